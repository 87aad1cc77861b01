// Unwrapping Result values in tests: a failure stops the test case and
// shows the error's code and message.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "wa/result.hpp"

namespace wa::test {

inline std::string err_text(const Error& e) { return e.code + ": " + e.message; }

template <class T>
T must(Result<T> r) {
  REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : err_text(r.error())));
  return std::move(r).value();
}
inline void must_ok(const Status& s) { REQUIRE_MESSAGE(s.has_value(), (s ? std::string() : err_text(s.error()))); }

}  // namespace wa::test
