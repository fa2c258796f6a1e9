// SQLite macros Swift cannot import.
#ifndef CCLOAD_SQLITE_SHIM_H
#define CCLOAD_SQLITE_SHIM_H
#include <sqlite3.h>
#include <zlib.h>

static inline sqlite3_destructor_type cc_SQLITE_TRANSIENT(void) { return SQLITE_TRANSIENT; }
#endif
