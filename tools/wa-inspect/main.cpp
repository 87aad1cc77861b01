// wa-inspect: look at binary nodes and JIDs from the command line.
//
//   wa-inspect decode      hex of a decrypted frame payload (flag byte first) on stdin -> node JSON
//   wa-inspect encode      node JSON on stdin -> hex (flag byte 00 first)
//   wa-inspect jid JID     the parsed parts of JID as JSON
//
// --lines (hidden, for test harnesses): one input per line, one output per
// line; a failed line prints "!<code>: <message>" and the exit status is 1.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "wa/binary/frame.hpp"
#include "wa/binary/jid.hpp"
#include "wa/binary/json.hpp"
#include "wa/build_info.hpp"

namespace {

using namespace wa;
using namespace wa::binary;

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

Result<std::string> decode_one(std::string_view hex_text) {
  std::string compact;
  compact.reserve(hex_text.size());
  for (char c : hex_text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') compact += c;
  }
  auto bytes = from_hex(compact);
  if (!bytes) return fail("bad_hex", "input is not hex (even number of 0-9a-f digits)");
  auto node = decode_frame_payload(*bytes);
  if (!node) return Unexpected<Error>{node.error()};
  return to_json_text(*node);
}

Result<std::string> encode_one(std::string_view json_text) {
  auto node = from_json_text(json_text);
  if (!node) return Unexpected<Error>{node.error()};
  auto bytes = encode_frame_payload(*node);
  if (!bytes) return Unexpected<Error>{bytes.error()};
  return to_hex(*bytes);
}

template <class Fn>
int run(Fn fn, bool lines) {
  std::ios::sync_with_stdio(false);
  if (!lines) {
    std::string input;
    char buf[1 << 16];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) input.append(buf, static_cast<std::size_t>(std::cin.gcount()));
    auto out = fn(trim(input));
    if (!out) {
      std::cerr << "wa-inspect: " << out.error().code << ": " << out.error().message << "\n";
      return 1;
    }
    std::cout << *out << "\n";
    return 0;
  }
  int status = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto out = fn(trim(line));
    if (out) {
      std::cout << *out << '\n';
    } else {
      std::cout << '!' << out.error().code << ": " << out.error().message << '\n';
      status = 1;
    }
  }
  std::cout.flush();
  return status;
}

int show_jid(const std::string& text) {
  auto j = Jid::parse(text);
  if (!j) {
    std::cerr << "wa-inspect: invalid jid: " << j.error().message << "\n";
    return 1;
  }
  nlohmann::ordered_json out;
  out["jid"] = j->str();
  out["user"] = j->user;
  out["agent"] = j->agent;
  out["device"] = j->device;
  if (j->server == server::kInterop) out["integrator"] = j->integrator;
  out["server"] = j->server;
  out["domain_type"] = j->domain_type();
  out["is_user"] = j->is_user();
  out["is_group"] = j->is_group();
  out["signal_address"] = {{"name", j->signal_address_name()}, {"device", j->device}};
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Inspect WhatsApp binary nodes and JIDs"};
  app.set_version_flag("--version", std::string("wa-inspect ") + wa::kVersion);
  app.require_subcommand(1);

  bool lines = false;
  auto* decode = app.add_subcommand("decode", "hex frame payload (flag byte first) on stdin -> node JSON");
  decode->add_flag("--lines", lines, "one hex payload per line")->group("");
  auto* encode = app.add_subcommand("encode", "node JSON on stdin -> hex frame payload (flag byte 00 first)");
  encode->add_flag("--lines", lines, "one JSON node per line")->group("");
  std::string jid_text;
  auto* jid = app.add_subcommand("jid", "print the parts of a JID as JSON");
  jid->add_option("JID", jid_text, "e.g. 5511999999999:3@s.whatsapp.net")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help is fine, bad usage exits 1
  }
  if (*decode) return run(decode_one, lines);
  if (*encode) return run(encode_one, lines);
  return show_jid(jid_text);
}
