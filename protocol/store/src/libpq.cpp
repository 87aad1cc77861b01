#include "libpq.hpp"

#include <string>

#include "wa/dynlib.hpp"
#include "wa/log.hpp"

namespace wa::store::pg {
namespace {

// The ABI libpq has kept since PostgreSQL 8.x; the package installs it.
constexpr const char* kSoname = "libpq.so.5";
dynlib::Once<LibPq> g_lib;

}  // namespace

Result<const LibPq*> load_libpq() {
  return g_lib.get_or_load([]() -> Result<LibPq> {
    auto h = dynlib::open(kSoname, "libpq5", "db_unavailable", "postgres");
    if (!h) return Unexpected<Error>{h.error()};
    LibPq lib;
    std::string missing;
#define WA_LIBPQ_RESOLVE(name) dynlib::resolve(*h, #name, lib.name, missing);
    WA_LIBPQ_FUNCTIONS(WA_LIBPQ_RESOLVE)
#undef WA_LIBPQ_RESOLVE
    if (!missing.empty()) return Unexpected<Error>{dynlib::lacks(kSoname, missing, "db_unavailable", "postgres")};
    WA_DEBUG("postgres: %s loaded", kSoname);
    return lib;
  });
}

const LibPq& pq() { return g_lib.get("postgres: libpq"); }

}  // namespace wa::store::pg
