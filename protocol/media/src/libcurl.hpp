// libcurl, loaded on first use instead of linked. Linked, libcurl brings
// ~23 shared libraries (nghttp2, libssh2, LDAP, Kerberos, librtmp, libpsl,
// ...) into every wa-sender, text-only ones included: their loading and
// relocations cost each sender ~0.9 MB of PSS and ~9 ms of its start
// (docs/BENCHMARKS.md, "Sender"), and a conversation's first send waits for
// its sender's start. Only a sender that moves a media file loads it.
#pragma once

// The type-checking macros of curl.h would turn every call below, made
// through a function pointer, into their own.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "wa/result.hpp"

namespace wa::media::curl {

// Every libcurl function we call, resolved by name from the loaded library.
#define WA_LIBCURL_FUNCTIONS(X) \
  X(curl_global_init)           \
  X(curl_easy_init)             \
  X(curl_easy_setopt)           \
  X(curl_easy_perform)          \
  X(curl_easy_getinfo)          \
  X(curl_easy_cleanup)          \
  X(curl_easy_strerror)         \
  X(curl_easy_escape)           \
  X(curl_free)                  \
  X(curl_slist_append)          \
  X(curl_slist_free_all)

struct LibCurl {
#define WA_LIBCURL_MEMBER(name) decltype(&::name) name = nullptr;
  WA_LIBCURL_FUNCTIONS(WA_LIBCURL_MEMBER)
#undef WA_LIBCURL_MEMBER
};

// Loads libcurl.so.4, resolves every function and runs curl_global_init,
// once per process (thread safe). `code` with the loader's reason when it
// is missing or incomplete; a later call tries again.
Result<const LibCurl*> load(const char* code);

// The loaded library; only after load() succeeded (every transfer starts
// with it), else a bug of ours, and the process aborts rather than call
// through a null pointer.
const LibCurl& api();

}  // namespace wa::media::curl
