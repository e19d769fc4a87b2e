//! Rule: the outcome of a failure must be handled (retry or dead letter).
#![deny(unused_must_use)]
#[path = "../support.rs"]
mod support;

fn main() {
    support::dispatched().fail("timeout");
}
