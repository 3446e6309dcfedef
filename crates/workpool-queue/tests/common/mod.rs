//! Real databases for the tests (see `db.rs`, which the command's tests share), and the
//! macro that runs a test on both.

#![allow(dead_code)]

mod db;
pub use db::*;

/// Defines `NAME_sqlite` and `NAME_pg` tests that run `NAME(&TestDb)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&$crate::common::TestDb::sqlite()); })*
        }
        mod pg {
            $(#[test] fn $name() {
                if let Some(db) = $crate::common::TestDb::pg(stringify!($name)) {
                    super::$name(&db);
                }
            })*
        }
    };
}
