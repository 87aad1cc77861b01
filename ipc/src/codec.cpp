#include "wa/ipc/codec.hpp"

#include <cstring>
#include <optional>

namespace wa::ipc {

namespace {

// Why a parse failed, without any of the input's content (it may be a
// message body or a key).
struct ParseFailure {
  enum Kind { syntax, number, depth, nul, memory } kind = syntax;
  size_t position = 0;
};

// nlohmann's DOM builder behind a SAX filter that refuses deep nesting
// before it is built (nlohmann's CBOR reader, dump() and to_cbor() recurse
// once per level, so a deep value would overflow the stack wherever it is
// touched next) and records errors instead of throwing them: the stock
// parse throws out_of_range 406 for 1e400, which is not a parse_error, and
// 408 for a CBOR length it cannot hold.
class BoundedBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit BoundedBuilder(json& root) : dom_(root, false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return dom_.number_float(v, s); }
  bool string(string_t& v) { return dom_.string(v); }
  bool binary(binary_t& v) { return dom_.binary(v); }
  bool key(string_t& v) { return dom_.key(v); }
  bool start_object(std::size_t len) { return enter(len) && dom_.start_object(len); }
  bool start_array(std::size_t len) { return enter(len) && dom_.start_array(len); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& /*token: request content*/, const Exception& ex) {
    if (!failure_) failure_ = ParseFailure{ex.id == 406 ? ParseFailure::number : ParseFailure::syntax, position};
    return false;
  }

  const std::optional<ParseFailure>& failure() const { return failure_; }

 private:
  bool enter(std::size_t len) {
    if (++depth_ > kMaxJsonDepth) {
      failure_ = ParseFailure{ParseFailure::depth, 0};
      return false;
    }
    // A CBOR header may claim any length; the reader would fail at the end
    // of the input, but the stock builder throws first for huge ones.
    if (len != static_cast<std::size_t>(-1) && len > (std::size_t{1} << 32)) {
      failure_ = ParseFailure{ParseFailure::syntax, 0};
      return false;
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::optional<ParseFailure> failure_;
  size_t depth_ = 0;
};

Result<json, ParseFailure> parse_bounded(ByteView b, nlohmann::detail::input_format_t format) {
  using Fail = Unexpected<ParseFailure>;
  if (format == nlohmann::detail::input_format_t::json) {
    // nlohmann's lexer takes a NUL byte for the end of the input and ignores
    // whatever follows it; JSON text never holds one raw.
    if (const void* nul = std::memchr(b.data(), 0, b.size()); nul != nullptr)
      return Fail{{ParseFailure::nul, static_cast<size_t>(static_cast<const uint8_t*>(nul) - b.data())}};
  }
  json out;
  BoundedBuilder sax(out);
  bool ok = false;
  try {
    ok = json::sax_parse(b.begin(), b.end(), &sax, format, true);
  } catch (const std::bad_alloc&) {
    return Fail{{ParseFailure::memory, 0}};
  } catch (const std::exception&) {
    // json::exception or anything else: never past this boundary.
    return Fail{{ParseFailure::syntax, 0}};
  }
  if (sax.failure()) return Fail{*sax.failure()};
  if (!ok) return Fail{{ParseFailure::syntax, 0}};
  return out;
}

std::string describe(const ParseFailure& f, const char* what, size_t size) {
  switch (f.kind) {
    case ParseFailure::number:
      return std::string(what) + " holds a number out of range (near byte " + std::to_string(f.position) + ")";
    case ParseFailure::depth:
      return std::string(what) + " is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    case ParseFailure::nul:
      return std::string(what) + " contains a NUL byte (byte " + std::to_string(f.position) + ")";
    case ParseFailure::memory:
      return std::string(what) + " is too large to parse";
    case ParseFailure::syntax:
      break;
  }
  return std::string(what) + " is not valid (byte " + std::to_string(f.position) + " of " + std::to_string(size) + ")";
}

}  // namespace

Bytes to_cbor(const json& j) { return json::to_cbor(j); }

Result<json> from_cbor(ByteView b) {
  auto r = parse_bounded(b, nlohmann::detail::input_format_t::cbor);
  if (!r) return fail("bad_message", describe(r.error(), "CBOR message", b.size()));
  return std::move(*r);
}

Result<json> parse_json_text(ByteView b, const char* what) {
  auto r = parse_bounded(b, nlohmann::detail::input_format_t::json);
  if (r) return std::move(*r);
  if (r.error().kind == ParseFailure::syntax)
    return fail("bad_request", std::string(what) + " is not valid JSON (byte " + std::to_string(r.error().position) +
                                   " of " + std::to_string(b.size()) + ")");
  return fail(r.error().kind == ParseFailure::memory ? "too_large" : "bad_request",
              describe(r.error(), what, b.size()));
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json ok_reply(json result) { return json{{"ok", true}, {"result", std::move(result)}}; }

json error_reply(const std::string& code, const std::string& message, const json& details) {
  json e{{"code", code}, {"message", message}};
  if (details.is_object())
    for (auto it = details.begin(); it != details.end(); ++it) e.emplace(it.key(), it.value());
  return json{{"ok", false}, {"error", std::move(e)}};
}

}  // namespace wa::ipc
