#include "libpq.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

#include "wa/log.hpp"

namespace wa::store::pg {
namespace {

// The ABI libpq has kept since PostgreSQL 8.x; the package installs it.
constexpr const char* kSoname = "libpq.so.5";

std::mutex g_mutex;
LibPq g_lib;
std::atomic<const LibPq*> g_loaded{nullptr};

}  // namespace

Result<const LibPq*> load_libpq() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (const LibPq* l = g_loaded.load()) return l;
  // RTLD_NODELETE: the functions stay valid for the life of the process.
  void* h = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!h) {
    const char* why = dlerror();
    return fail("db_unavailable", std::string("postgres: cannot load ") + kSoname + " (install libpq5): " +
                                      (why ? why : "unknown reason"));
  }
  LibPq lib;
  std::string missing;
#define WA_LIBPQ_RESOLVE(name)                                                   \
  lib.name = reinterpret_cast<decltype(&::name)>(dlsym(h, #name));             \
  if (!lib.name) missing += missing.empty() ? #name : ", " #name;
  WA_LIBPQ_FUNCTIONS(WA_LIBPQ_RESOLVE)
#undef WA_LIBPQ_RESOLVE
  if (!missing.empty()) {
    dlclose(h);
    return fail("db_unavailable", std::string("postgres: ") + kSoname + " lacks " + missing);
  }
  g_lib = lib;
  g_loaded.store(&g_lib);
  WA_DEBUG("postgres: %s loaded", kSoname);
  return &g_lib;
}

const LibPq& pq() {
  // Reaching here first is a bug of ours (a call without a connection):
  // fail loudly rather than call through a null pointer.
  const LibPq* l = g_loaded.load();
  if (!l) {
    WA_ERROR("postgres: libpq used before it was loaded");
    std::abort();
  }
  return *l;
}

}  // namespace wa::store::pg
