//! The `bindgen!` of the host: Rust types and traits for the
//! `aludel:migration` world, the current version (0.2.0) and the frozen
//! 0.1.0 beside it.
//!
//! Every import is `async` (statements await the database) and `trappable`
//! (a host-side failure that is not the guest's fault traps instead of
//! returning a value the guest could misread).
//!
//! 0.1.0's `types` interface is the same as 0.2.0's, and the component
//! model checks types by structure, not by name: `with` points the whole
//! 0.1.0 interface at the 0.2.0 module, so the 0.1.0 imports are one-line
//! calls into the current implementation (v0_1.rs over host.rs) and its
//! export takes the same context. (wasmtime's `with` remaps whole
//! interfaces and resources, not single records or enums: the 0.1.0 log
//! level stays a type of its own.) Because a remapped interface's
//! `add_to_linker` is the 0.2.0 one, the runtime links 0.1.0's interfaces
//! one by one (`v0_1::add_to_linker`), not through its world.

wasmtime::component::bindgen!({
    path: "wit",
    world: "aludel:migration/migration@0.2.0",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "aludel:migration/database.cursor": super::host::CursorHandle,
    },
});

pub use self::aludel::migration::{batches, database, log, progress, types};

/// The frozen `aludel:migration@0.1.0` (wit/v0.1.0/).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/v0.1.0",
        world: "aludel:migration/migration@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "aludel:migration/types@0.1.0": crate::runtime::bindings::types,
            "aludel:migration/database@0.1.0.cursor": crate::runtime::host::CursorHandle,
        },
    });

    pub use self::aludel::migration::{database, log, progress};
}
