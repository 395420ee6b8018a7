// SQLite's C API (Debian libsqlite3-dev).
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: bound text/blobs are copied by SQLite.
static inline void (*easel_sqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }
