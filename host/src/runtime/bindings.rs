//! The one `bindgen!` of the host: Rust types and traits for the
//! `aludel:migration` world.
//!
//! Every import is `async` (statements await the database) and `trappable`
//! (a host-side failure that is not the guest's fault traps instead of
//! returning a value the guest could misread).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "aludel:migration/migration",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "aludel:migration/database.cursor": super::host::CursorHandle,
    },
});

pub use self::aludel::migration::{database, log, progress, types};
