// Minimal leveled logging to stderr (journald adds time and unit). Callers
// must never pass keys, message bodies or QR contents.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wa::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level) noexcept;
Level level() noexcept;
const char* level_name(Level level) noexcept;  // "debug" | "info" | "warn" | "error"
// The level named by `name`; false for anything else.
bool parse_level(std::string_view name, Level& out) noexcept;
void set_tag(const char* tag) noexcept;  // e.g. "wa-connection[sales]"; copied
void write(Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// Also append every line, with a UTC timestamp, to `path` (0600, created if
// missing): the account's own log that `wactl logs` reads, beside stderr
// (journald). Several processes of one account append to the same file;
// past kMaxFileBytes the file becomes `path.1` (one generation kept).
// Empty: stop. Returns false when the file cannot be opened.
inline constexpr size_t kMaxFileBytes = 1u << 20;
bool set_file(const std::string& path) noexcept;

}  // namespace wa::log

#define WA_DEBUG(...) ::wa::log::write(::wa::log::Level::debug, __VA_ARGS__)
#define WA_INFO(...) ::wa::log::write(::wa::log::Level::info, __VA_ARGS__)
#define WA_WARN(...) ::wa::log::write(::wa::log::Level::warn, __VA_ARGS__)
#define WA_ERROR(...) ::wa::log::write(::wa::log::Level::error, __VA_ARGS__)
