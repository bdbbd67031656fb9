// compile.cpp - what bench/run's C++ compiler workload compiles (cc1plus -O1):
// the standard library's containers, strings, streams and algorithms, as an
// ordinary translation unit includes them.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

struct Record {
    std::string name;
    std::vector<int> values;
    std::map<std::string, double> attributes;
};

static std::vector<Record> parse(std::istream &in)
{
    std::vector<Record> out;
    std::string line;
    std::regex field(R"((\w+)=([0-9.]+))");
    while (std::getline(in, line)) {
        Record r;
        std::istringstream words(line);
        words >> r.name;
        for (std::sregex_iterator it(line.begin(), line.end(), field), end; it != end; ++it)
            r.attributes[(*it)[1]] = std::stod((*it)[2]);
        out.push_back(std::move(r));
    }
    return out;
}

int main()
{
    auto records = parse(std::cin);
    std::unordered_map<std::string, std::shared_ptr<Record>> by_name;
    for (auto &r : records) by_name.emplace(r.name, std::make_shared<Record>(r));
    std::sort(records.begin(), records.end(), [](const Record &a, const Record &b) { return a.name < b.name; });
    for (const auto &[name, r] : by_name) std::cout << name << ' ' << r->attributes.size() << '\n';
    return 0;
}
