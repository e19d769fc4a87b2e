//! Rule: an envelope that is dropped is an event that is lost.
#![deny(unused_must_use)]
#[path = "../support.rs"]
mod support;

fn main() {
    support::pending().dispatch();
}
