#include "libcurl.hpp"

#include <string>

#include "wa/dynlib.hpp"
#include "wa/log.hpp"

namespace wa::media::curl {

namespace {
// The ABI libcurl has kept since 7.16; Debian's libcurl4 installs it.
constexpr const char* kSoname = "libcurl.so.4";
dynlib::Once<LibCurl> g_lib;
}  // namespace

Result<const LibCurl*> load(const char* code) {
  return g_lib.get_or_load([code]() -> Result<LibCurl> {
    auto h = dynlib::open(kSoname, "libcurl4", code, "media");
    if (!h) return Unexpected<Error>{h.error()};
    LibCurl lib;
    std::string missing;
#define WA_LIBCURL_RESOLVE(name) dynlib::resolve(*h, #name, lib.name, missing);
    WA_LIBCURL_FUNCTIONS(WA_LIBCURL_RESOLVE)
#undef WA_LIBCURL_RESOLVE
    if (!missing.empty()) return Unexpected<Error>{dynlib::lacks(kSoname, missing, code, "media")};
    if (lib.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return fail(code, "libcurl did not initialise");
    WA_DEBUG("media: %s loaded", kSoname);
    return lib;
  });
}

const LibCurl& api() { return g_lib.get("media: libcurl"); }

}  // namespace wa::media::curl
