// A shared library loaded when first needed instead of linked: a process
// that never uses it never maps it, nor the libraries it depends on (why,
// for each: protocol/store/src/libpq.hpp, protocol/media/src/libcurl.hpp).
// Each user keeps one table of the functions it calls, resolved once.
#pragma once

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

#include "wa/log.hpp"
#include "wa/result.hpp"

namespace wa::dynlib {

// dlopen(soname) for good (RTLD_NODELETE: what is resolved from it stays
// valid for the life of the process). Fails with `code`, naming the
// library, the package to install and the loader's reason.
Result<void*> open(const char* soname, const char* package, const char* code, const char* what);

// `fn` = the symbol `name`, or nullptr with `name` added to `missing`.
template <class F>
void resolve(void* handle, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(::dlsym(handle, name));
  if (fn == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
}

// The error for a library that lacks functions we call.
Error lacks(const char* soname, const std::string& missing, const char* code, const char* what);

// A library's table of functions, loaded once per process (thread safe);
// a load that failed is tried again by the next caller.
template <class Table>
class Once {
 public:
  // The table, made by `load` (a Result<Table>) on the first call.
  template <class Load>
  Result<const Table*> get_or_load(Load&& load) {
    std::lock_guard<std::mutex> lock(mu_);
    if (const Table* t = loaded_.load()) return t;
    Result<Table> made = load();
    if (!made) return Unexpected<Error>{made.error()};
    table_ = *made;
    loaded_.store(&table_);
    return &table_;
  }
  // The loaded table. Reaching here before a load succeeded is a bug of
  // ours: fail loudly rather than call through a null pointer.
  const Table& get(const char* what) const {
    const Table* t = loaded_.load();
    if (t == nullptr) {
      WA_ERROR("%s used before it was loaded", what);
      std::abort();
    }
    return *t;
  }

 private:
  std::mutex mu_;
  Table table_{};
  std::atomic<const Table*> loaded_{nullptr};
};

}  // namespace wa::dynlib
