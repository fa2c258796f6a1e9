// libpq, PostgreSQL's client library (Debian: libpq-dev). Its header lives in
// /usr/include/postgresql, outside the default search path; its own includes are quoted,
// so they resolve beside it.
#ifndef CCLOAD_CPOSTGRES_H
#define CCLOAD_CPOSTGRES_H
#include <postgresql/libpq-fe.h>
#endif
