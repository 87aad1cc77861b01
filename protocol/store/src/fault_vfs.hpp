// Test-only fault injection at the SQLite layer (internal to wa_store).
//
// Disabled unless the process starts with WA_TEST_FAULT_STORE=ioerr (exactly
// that value; anything else is ignored with a warning). Then every database
// is opened through a thin VFS over the default one whose writes and syncs
// of a database (its main file, WAL or journal) fail with SQLITE_IOERR while
// a file named `<database path>.fault-ioerr` exists. Two deliberate steps -
// the variable at start and the trigger file next to one profile's
// database - so it cannot fire by accident, and a test can switch one
// account's store off and on again while every process keeps running.
#pragma once

namespace wa::store::fault {

// The VFS to open databases with: nullptr (SQLite's default) unless enabled.
const char* vfs_name() noexcept;

}  // namespace wa::store::fault
