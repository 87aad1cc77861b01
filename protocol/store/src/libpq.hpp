// libpq, loaded on first use instead of linked. Linked, libpq brings
// Kerberos, LDAP, SASL and GnuTLS (with p11-kit, nettle, libunistring ...)
// into every process of ours, and their relocations cost each one about
// 0.4 MB of private memory even when the store is SQLite - at thousands of
// accounts (two or more processes each) that is most of the gap between
// the memory budget and what a worker costs (docs/BENCHMARKS.md, "Memory
// per account"). Only processes that open a PostgreSQL store load it.
#pragma once

#include <libpq-fe.h>

#include "wa/result.hpp"

namespace wa::store::pg {

// Every libpq function we call, resolved by name from the loaded library.
#define WA_LIBPQ_FUNCTIONS(X) \
  X(PQconnectdbParams)        \
  X(PQfinish)                 \
  X(PQstatus)                 \
  X(PQerrorMessage)           \
  X(PQsetNoticeProcessor)     \
  X(PQserverVersion)          \
  X(PQtransactionStatus)      \
  X(PQprepare)                \
  X(PQexecPrepared)           \
  X(PQexec)                   \
  X(PQresultStatus)           \
  X(PQresultErrorField)       \
  X(PQntuples)                \
  X(PQgetisnull)              \
  X(PQgetvalue)               \
  X(PQgetlength)              \
  X(PQcmdTuples)              \
  X(PQclear)                  \
  X(PQescapeLiteral)          \
  X(PQfreemem)

struct LibPq {
#define WA_LIBPQ_MEMBER(name) decltype(&::name) name = nullptr;
  WA_LIBPQ_FUNCTIONS(WA_LIBPQ_MEMBER)
#undef WA_LIBPQ_MEMBER
};

// Loads libpq.so.5 and resolves every function, once per process (thread
// safe). db_unavailable naming the library (and the loader's reason) when
// it is not installed or lacks a function; a later call tries again.
Result<const LibPq*> load_libpq();

// The loaded library. Valid only after load_libpq() succeeded: every call
// goes through a connection, and Conn::reconnect loads the library first.
const LibPq& pq();

}  // namespace wa::store::pg
