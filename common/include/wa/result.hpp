// Errors as values for protocol and IPC paths (std::expected arrives with
// C++23; this is the subset we use, with the same spelling where it matters).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace wa {

struct Error {
  std::string code;     // stable, machine-readable ("bad_request", "truncated", ...)
  std::string message;  // for humans; never contains secrets
};

template <class E>
struct Unexpected {
  E error;
};

inline Unexpected<Error> fail(std::string code, std::string message = {}) {
  return {Error{std::move(code), std::move(message)}};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Unexpected<E> e) : err_(std::move(e.error)), ok_(false) {}  // NOLINT
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const E& error() const& { return err_; }

 private:
  E err_{};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace wa

// Propagate the error of a Status/Result expression from a function that
// returns any Result type.
#define WA_TRY(expr)                                                        \
  do {                                                                      \
    if (auto wa_try_ = (expr); !wa_try_)                                    \
      return ::wa::Unexpected<::wa::Error>{wa_try_.error()};                \
  } while (0)

namespace wa {

}  // namespace wa
