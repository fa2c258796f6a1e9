// SQLite macros Swift cannot import.
#ifndef CCLOAD_SQLITE_SHIM_H
#define CCLOAD_SQLITE_SHIM_H
#include <sqlite3.h>
#include <zlib.h>

static inline sqlite3_destructor_type cc_SQLITE_TRANSIENT(void) { return SQLITE_TRANSIENT; }
/* sqlite3_config is variadic. Memory statistics off: no global mutex around every
   sqlite3_malloc and sqlite3_free. Works only before the library initialises (the first
   open); SQLITE_MISUSE after. */
static inline int cc_sqlite3_config_memstatus(int on) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, on); }
#endif
