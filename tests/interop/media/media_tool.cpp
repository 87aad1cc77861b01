// wa_media for the Baileys cross-check script (baileys_media.mjs).
//   media_tool encrypt <kind> <key hex> <in> <out>   -> "<fileSha256> <fileEncSha256> <fileLength>" (hex)
//   media_tool decrypt <kind> <key hex> <in> <out> <fileSha256 hex> <fileEncSha256 hex>  -> "ok" | "ERROR <code>"
//   media_tool retry-notify <msg id> <key hex> <direct path>  -> "<enc_p hex> <enc_iv hex>"
//   media_tool retry-receipt <msg id> <own pn> <chat> <from_me 0|1> <participant|-> <key hex>
//     -> "<to> <type> <rmr jid> <rmr from_me> <rmr participant|-> <enc_p hex> <enc_iv hex>"
//   media_tool retry-open <msg id> <key hex> <enc_p hex> <enc_iv hex>  -> "<result> <direct path>" | "ERROR <code>"
//   media_tool probe <path> [kind]  -> JSON {mimetype, kind, width, height, seconds, pages, animated,
//                                            thumbnail (hex), waveform [..]} | "ERROR <code>"
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>

#include "wa/media/media.hpp"

using namespace wa;
using namespace wa::media;

namespace {

[[noreturn]] void usage() {
  std::cerr << "usage: see the comment at the top of media_tool.cpp\n";
  std::exit(2);
}
Bytes hex_arg(const char* s) {
  auto b = from_hex(s);
  if (!b) usage();
  return *b;
}
Kind kind_arg(const char* s) {
  auto k = kind_from_name(s);
  if (!k) usage();
  return *k;
}
Bytes read_all(const char* path) {
  Bytes out;
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) usage();
  uint8_t buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  ::close(fd);
  return out;
}
void write_all(const char* path, const Bytes& b) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ::write(fd, b.data(), b.size()) != static_cast<ssize_t>(b.size())) usage();
  ::close(fd);
}
const Bytes& bytes_of(const binary::Node* n) {
  static const Bytes empty;
  return n && n->bytes() ? *n->bytes() : empty;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "encrypt" && argc == 6) {
    FileHashes h;
    auto body = encrypt(hex_arg(argv[3]), kind_arg(argv[2]), read_all(argv[4]), &h);
    if (!body) {
      std::cout << "ERROR " << body.error().code << '\n';
      return 1;
    }
    write_all(argv[5], *body);
    std::cout << to_hex(h.file_sha256) << ' ' << to_hex(h.file_enc_sha256) << ' ' << h.file_length << '\n';
  } else if (cmd == "decrypt" && argc == 8) {
    FileHashes e;
    e.file_sha256 = hex_arg(argv[6]);
    e.file_enc_sha256 = hex_arg(argv[7]);
    auto plain = decrypt(hex_arg(argv[3]), kind_arg(argv[2]), read_all(argv[4]), e);
    if (!plain) {
      std::cout << "ERROR " << plain.error().code << '\n';
      return 0;
    }
    write_all(argv[5], *plain);
    std::cout << "ok\n";
  } else if (cmd == "retry-notify" && argc == 5) {
    auto n = build_retry_notification(argv[2], "1@s.whatsapp.net", false, "", argv[4], hex_arg(argv[3]));
    if (!n) return 1;
    const binary::Node* enc = n->child("encrypt");
    std::cout << to_hex(bytes_of(enc->child("enc_p"))) << ' ' << to_hex(bytes_of(enc->child("enc_iv"))) << '\n';
  } else if (cmd == "retry-receipt" && argc == 8) {
    const std::string participant = std::string(argv[6]) == "-" ? "" : argv[6];
    auto r = build_retry_receipt(argv[2], argv[3], argv[4], std::string(argv[5]) == "1", participant, hex_arg(argv[7]));
    if (!r) {
      std::cout << "ERROR " << r.error().code << '\n';
      return 1;
    }
    const binary::Node* rmr = r->child("rmr");
    const binary::Node* enc = r->child("encrypt");
    std::cout << r->attr_or("to", "-") << ' ' << r->attr_or("type", "-") << ' ' << rmr->attr_or("jid", "-") << ' '
              << rmr->attr_or("from_me", "-") << ' ' << rmr->attr_or("participant", "-") << ' '
              << to_hex(bytes_of(enc->child("enc_p"))) << ' ' << to_hex(bytes_of(enc->child("enc_iv"))) << '\n';
  } else if (cmd == "retry-open" && argc == 6) {
    binary::Children enc_kids;
    enc_kids.emplace_back("enc_p", binary::Attrs{}, hex_arg(argv[4]));
    enc_kids.emplace_back("enc_iv", binary::Attrs{}, hex_arg(argv[5]));
    binary::Children kids;
    kids.emplace_back("rmr", binary::Attrs{{"jid", "1@s.whatsapp.net"}, {"from_me", "false"}});
    kids.emplace_back("encrypt", binary::Attrs{}, std::move(enc_kids));
    binary::Node n("notification", binary::Attrs{{"id", argv[2]}, {"type", "mediaretry"}}, std::move(kids));
    auto a = parse_retry_notification(n, hex_arg(argv[3]));
    if (!a) {
      std::cout << "ERROR " << a.error().code << '\n';
      return 0;
    }
    std::cout << a->result << ' ' << (a->direct_path.empty() ? "-" : a->direct_path) << '\n';
  } else if (cmd == "probe" && (argc == 3 || argc == 4)) {
    std::optional<Kind> forced;
    if (argc == 4) forced = kind_arg(argv[3]);
    auto p = probe_file(argv[2], forced);
    if (!p) {
      std::cout << "ERROR " << p.error().code << '\n';
      return 0;
    }
    std::cout << "{\"mimetype\":\"" << p->mimetype << "\",\"kind\":\"" << kind_name(p->kind) << "\",\"width\":" << p->width
              << ",\"height\":" << p->height << ",\"seconds\":" << p->seconds << ",\"pages\":" << p->pages
              << ",\"animated\":" << (p->animated ? "true" : "false") << ",\"thumbnail\":\"" << to_hex(p->jpeg_thumbnail)
              << "\",\"waveform\":[";
    for (size_t i = 0; i < p->waveform.size(); ++i) std::cout << (i ? "," : "") << int{p->waveform[i]};
    std::cout << "]}\n";
  } else {
    usage();
  }
  return 0;
}
