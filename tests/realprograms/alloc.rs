// alloc.rs - a std-only Rust program with known heap behaviour: exactly
// 10,000 boxes of 100 bytes, 20,000 formatted strings in a HashMap, all freed
// before main returns (no leak).
use std::collections::HashMap;

fn main() {
    let mut map = HashMap::new();
    for i in 0..20000u32 {
        map.insert(i, format!("value-{}", i));
    }
    let total: usize = (0..20000u32).map(|i| map[&i].len()).sum();
    let boxes: Vec<Box<[u8; 100]>> = (0..10000).map(|i| Box::new([(i % 251) as u8; 100])).collect();
    let bsum: usize = boxes.iter().map(|b| b[99] as usize).sum();
    println!("rust {} {} {} {}", map.len(), total, boxes.len(), bsum);
}
