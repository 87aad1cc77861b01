#include "wa/dynlib.hpp"

namespace wa::dynlib {

Result<void*> open(const char* soname, const char* package, const char* code, const char* what) {
  void* h = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (h != nullptr) return h;
  const char* why = ::dlerror();
  return fail(code, std::string(what) + ": cannot load " + soname + " (install " + package +
                        "): " + (why != nullptr ? why : "unknown reason"));
}

Error lacks(const char* soname, const std::string& missing, const char* code, const char* what) {
  return Error{code, std::string(what) + ": " + soname + " lacks " + missing};
}

}  // namespace wa::dynlib
