// Typed reads of one field of a decoded message. nlohmann's accessors
// (get<T>, value(), at(), operator[] on a const object) throw or are
// undefined on a missing field or a wrong type; these never throw: a missing
// field, a wrong type, or a number outside T's range is an error value that
// names the field (never its content). Meant for every message that comes
// from another process, so no handler can be crashed by its peer.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "wa/ipc/codec.hpp"

namespace wa::ipc {

namespace detail {

inline Unexpected<Error> field_error(std::string_view key, const char* what) {
  return fail("bad_message", "field '" + std::string(key) + "' " + what);
}

// Whole numbers only (a float is a peer's bug worth naming), in T's range.
template <class T>
Result<T> integer_of(const json& v, std::string_view key) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return field_error(key, "is out of range");
    return static_cast<T>(u);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0) return field_error(key, "must not be negative");
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return field_error(key, "is out of range");
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max()))
        return field_error(key, "is out of range");
    }
    return static_cast<T>(i);
  }
  return field_error(key, "must be a whole number");
}

template <class T>
Result<T> convert(const json& v, std::string_view key) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return field_error(key, "must be a string");
    return v.get_ref<const std::string&>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return field_error(key, "must be true or false");
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    return integer_of<T>(v, key);
  } else if constexpr (std::is_same_v<T, json::binary_t>) {
    if (!v.is_binary()) return field_error(key, "must be a byte string");
    return v.get_binary();
  } else {
    static_assert(std::is_same_v<T, json>, "field<T>: string, bool, an integer type, json::binary_t or json");
    return v;
  }
}

}  // namespace detail

// The field `key` of object `m`, which must be present and of type T.
// T = json accepts any value; use object_field for "an object".
template <class T>
Result<T> field(const json& m, std::string_view key) {
  if (!m.is_object()) return detail::field_error(key, "is missing (not an object)");
  auto it = m.find(key);
  if (it == m.end()) return detail::field_error(key, "is missing");
  return detail::convert<T>(*it, key);
}

// The field `key` of object `m` if present (and not null), else `fallback`;
// present with another type is still an error.
template <class T>
Result<T> field_or(const json& m, std::string_view key, T fallback) {
  if (!m.is_object()) return fallback;
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return fallback;
  return detail::convert<T>(*it, key);
}

// A field that must be an object (absent: an empty object when optional).
inline Result<json> object_field(const json& m, std::string_view key, bool required = true) {
  if (!m.is_object()) return detail::field_error(key, "is missing (not an object)");
  auto it = m.find(key);
  if (it == m.end() || (!required && it->is_null())) {
    if (required) return detail::field_error(key, "is missing");
    return json::object();
  }
  if (!it->is_object()) return detail::field_error(key, "must be an object");
  return *it;
}

}  // namespace wa::ipc
