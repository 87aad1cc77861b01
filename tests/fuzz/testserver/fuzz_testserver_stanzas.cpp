// Hostile stanzas from an authenticated client through the routing planner,
// plus the admin-side parsers (QR text, fault requests) and the media host's
// request parsers (upload path, token, Range, media retry request). Nothing
// may crash, leak or hang.
#include <stdlib.h>

#include <cstdint>
#include <string>

#include "admin.hpp"
#include "media.hpp"
#include "phone.hpp"
#include "routing.hpp"
#include "state.hpp"
#include "wa/binary/codec.hpp"

using namespace wa;
using namespace wa::testserver;

namespace {

State& state() {
  static State* st = [] {
    static std::string dir = [] {
      char tmpl[] = "/tmp/wa-fuzz-ts-XXXXXX";
      const char* d = ::mkdtemp(tmpl);
      return std::string(d ? d : "/tmp");
    }();
    auto opened = State::open(dir, 1700000000);
    if (!opened) abort();
    auto* s = new State(std::move(opened).value());
    for (const char* phone : {"155501", "155502"}) {
      Account& a = s->ensure_account(phone);
      for (uint16_t id : {1, 2}) {
        Device d;
        d.id = id;
        a.devices[id] = d;
      }
    }
    Group g;
    g.id = "155501-1";
    g.creator = "155501";
    g.members = {{"155501", true}, {"155502", false}};
    (void)s->save_group(g);
    g.id = "155501-2";
    g.addressing_mode = "lid";
    (void)s->save_group(g);
    return s;
  }();
  return *st;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  if (auto node = binary::decode(in)) {
    // Both worlds: the pn server and the LID-first one enforcing tokens.
    const bool lid = size % 2 == 1;
    state().policy.lid = lid;
    state().policy.refuse_pn_lookups = lid;
    state().policy.require_tctoken = lid;
    (void)plan_message(state(), {"155501", 1}, *node, 1);
    (void)plan_receipt(state(), {"155502", 2}, *node, 1);
    (void)plan_privacy_tokens(state(), {"155501", 1}, *node, 1, [] { return std::string("n"); });
    (void)media::mediaretry_notification("id", "155501@s.whatsapp.net", 1, *node, std::nullopt, 2);
  }
  std::string text(as_chars(in));
  media::ByteRange range;
  (void)media::parse_range(text, size * 7, range);
  (void)media::parse_range(text, 0, range);
  (void)media::parse_upload_path(text);
  (void)media::path_of(text);
  (void)media::token_matches(text, {});
  (void)media::same_token(text, "abc=");
  static const Bytes key(32, 7);
  if (size > 12) (void)media::open_server_error_receipt(key, "id", in.subspan(12), in.first(12));
  (void)phone::parse_qr(text);
  auto j = admin::json::parse(text, nullptr, false);
  if (!j.is_discarded()) (void)admin::parse_fault(j);
  return 0;
}
