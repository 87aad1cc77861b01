// Value encodings both store engines share, so that a row moves between
// SQLite and PostgreSQL unchanged (wactl store-migrate).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace wa::store::rows {

inline int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A device list as "0,1,23".
inline std::string encode_devices(const std::vector<uint32_t>& devices) {
  std::string out;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(devices[i]);
  }
  return out;
}

inline std::optional<std::vector<uint32_t>> decode_devices(std::string_view text) {
  std::vector<uint32_t> out;
  if (text.empty()) return out;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    uint32_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || next == p) return std::nullopt;
    out.push_back(v);
    p = next;
    if (p < end) {
      if (*p != ',') return std::nullopt;
      ++p;
      if (p == end) return std::nullopt;
    }
  }
  return out;
}

// Option lists are stored as JSON arrays of strings; a row that does not
// read back as one yields no options rather than an exception.
inline std::string names_to_text(const std::vector<std::string>& names) {
  return nlohmann::json(names).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::vector<std::string> names_from_text(const std::string& text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// The LID name of a Signal address's name under a mapping (docs/PROTOCOL.md
// §12.1): "123" -> "456_1", hosted "123_128" -> "456_129". Splits `name`;
// returns nullopt when the name is a LID already (or of a form we do not
// rename), else the PN user part to look up.
inline std::optional<std::string_view> pn_user_of(std::string_view name, bool& hosted) {
  std::string_view user = name;
  std::string_view suffix;
  if (auto us = name.find('_'); us != std::string_view::npos) {
    user = name.substr(0, us);
    suffix = name.substr(us + 1);
  }
  if (!suffix.empty() && suffix != "128") return std::nullopt;
  hosted = !suffix.empty();
  return user;
}

inline std::string lid_name(std::string_view lid_user, bool hosted) {
  return std::string(lid_user) + (hosted ? "_129" : "_1");
}

// The bare user parts a LID mapping takes.
inline bool valid_mapping(std::string_view pn_user, std::string_view lid_user) {
  return !pn_user.empty() && !lid_user.empty() && pn_user.find_first_of("_:@") == std::string_view::npos &&
         lid_user.find_first_of("_:@") == std::string_view::npos;
}

}  // namespace wa::store::rows
