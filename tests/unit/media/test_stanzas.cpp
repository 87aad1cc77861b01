// The media_conn IQ and the media retry receipt / notification.
#include <doctest/doctest.h>

#include "must.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/media/media.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::media;
using wa::binary::Attrs;
using wa::binary::Children;
using wa::binary::Node;
using wa::test::must;

namespace {

Node answer(Attrs mc_attrs, Children hosts) {
  Children kids;
  kids.emplace_back("media_conn", std::move(mc_attrs), std::move(hosts));
  return Node("iq", Attrs{{"id", "1"}, {"type", "result"}, {"from", "@s.whatsapp.net"}}, std::move(kids));
}

Node host(std::string name, Attrs extra = {}) {
  Attrs a{{"hostname", std::move(name)}};
  for (auto& x : extra) a.push_back(x);
  return Node("host", std::move(a));
}

std::string code_of(const Result<MediaConn>& r) { return r ? "ok" : r.error().code; }

}  // namespace

TEST_CASE("media_conn iq shape") {
  Node iq = build_media_conn_iq("abc.1");
  CHECK(iq.tag == "iq");
  CHECK(iq.attr_or("id", "") == "abc.1");
  CHECK(iq.attr_or("xmlns", "") == "w:m");
  CHECK(iq.attr_or("type", "") == "set");
  CHECK(iq.attr_or("to", "") == "@s.whatsapp.net");
  REQUIRE(iq.children().size() == 1);
  CHECK(iq.children()[0].tag == "media_conn");
}

TEST_CASE("media_conn answer parses") {
  Children hosts;
  hosts.push_back(host("fb.example:8443", {{"type", "fallback"}}));
  hosts.push_back(host("mmg.example", {{"maxContentLengthBytes", "1000"}}));
  hosts.push_back(Node("host", Attrs{{"type", "primary"}}));  // no hostname: skipped
  hosts.push_back(host("mmg2.example", {{"maxContentLengthBytes", "500"}}));
  auto c = must(parse_media_conn(
      answer(Attrs{{"auth", "AUTH+/="}, {"ttl", "300"}, {"auth_ttl", "21600"}, {"max_buckets", "12"}}, std::move(hosts))));
  CHECK(c.auth == "AUTH+/=");
  CHECK(c.ttl_s == 300);
  CHECK(c.auth_ttl_s == 21600);
  REQUIRE(c.hosts.size() == 3);
  CHECK(c.hosts[0].hostname == "mmg.example");
  CHECK(c.hosts[0].max_content_bytes == 1000);
  CHECK(c.hosts[1].hostname == "mmg2.example");
  CHECK(c.hosts[2].hostname == "fb.example:8443");
  CHECK(c.hosts[2].fallback);
  CHECK(c.max_content_bytes == 500);
  c.fetched_at = 1000;
  CHECK(c.fresh(1299));
  CHECK_FALSE(c.fresh(1300));
}

TEST_CASE("media_conn answer minimal like Baileys reads it") {
  Children hosts;
  hosts.push_back(host("mmg.example"));
  auto c = must(parse_media_conn(answer(Attrs{{"auth", "A"}, {"ttl", "60"}}, std::move(hosts))));
  CHECK(c.auth_ttl_s == 0);
  CHECK(c.max_content_bytes == 0);
  CHECK(c.hosts.size() == 1);
}

TEST_CASE("media_conn answer refused when incomplete") {
  auto one_host = [] {
    Children h;
    h.push_back(host("mmg.example"));
    return h;
  };
  CHECK(code_of(parse_media_conn(answer(Attrs{{"ttl", "60"}}, one_host()))) == "bad_stanza");
  CHECK(code_of(parse_media_conn(answer(Attrs{{"auth", "A"}}, one_host()))) == "bad_stanza");
  CHECK(code_of(parse_media_conn(answer(Attrs{{"auth", "A"}, {"ttl", "x1"}}, one_host()))) == "bad_stanza");
  CHECK(code_of(parse_media_conn(answer(Attrs{{"auth", "A"}, {"ttl", "60"}}, {}))) == "bad_stanza");
  Children err;
  err.emplace_back("error", Attrs{{"code", "500"}, {"text", "internal"}});
  auto r = parse_media_conn(Node("iq", Attrs{{"id", "1"}, {"type", "error"}}, std::move(err)));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "bad_stanza");
  CHECK(r.error().message.find("500") != std::string::npos);
  CHECK(code_of(parse_media_conn(Node("iq", Attrs{{"type", "result"}}))) == "bad_stanza");
}

TEST_CASE("retry receipt carries the stanza id under the retry key") {
  const Bytes mk = random_media_key();
  Node r = must(build_retry_receipt("MSG1", "111:7@s.whatsapp.net", "222@s.whatsapp.net", false, "", mk));
  CHECK(r.tag == "receipt");
  CHECK(r.attr_or("id", "") == "MSG1");
  CHECK(r.attr_or("to", "") == "111@s.whatsapp.net");
  CHECK(r.attr_or("type", "") == "server-error");
  const Node* rmr = r.child("rmr");
  REQUIRE(rmr);
  CHECK(rmr->attr_or("jid", "") == "222@s.whatsapp.net");
  CHECK(rmr->attr_or("from_me", "") == "false");
  CHECK_FALSE(rmr->has_attr("participant"));
  const Node* enc = r.child("encrypt");
  REQUIRE(enc);
  REQUIRE(enc->child("enc_p"));
  REQUIRE(enc->child("enc_iv"));
  const Bytes& iv = *enc->child("enc_iv")->bytes();
  CHECK(iv.size() == 12);
  Bytes key = must(retry_key(mk));
  auto plain = must(crypto::aes_gcm_decrypt(key, iv, as_bytes("MSG1"), *enc->child("enc_p")->bytes()));
  wa::proto::ServerErrorReceipt ser;
  REQUIRE(ser.ParseFromArray(plain.data(), static_cast<int>(plain.size())));
  CHECK(ser.stanzaid() == "MSG1");
  // Another message id as AAD fails.
  CHECK_FALSE(crypto::aes_gcm_decrypt(key, iv, as_bytes("MSG2"), *enc->child("enc_p")->bytes()));

  Node g = must(build_retry_receipt("M2", "111@s.whatsapp.net", "333@g.us", true, "444@s.whatsapp.net", mk));
  CHECK(g.child("rmr")->attr_or("participant", "") == "444@s.whatsapp.net");
  CHECK(g.child("rmr")->attr_or("from_me", "") == "true");
  auto bad_key = build_retry_receipt("M", "111@s.whatsapp.net", "2@s.whatsapp.net", false, "", Bytes(3));
  REQUIRE_FALSE(bad_key);
  CHECK(bad_key.error().code == "bad_key");
  auto bad_jid = build_retry_receipt("M", "not a jid", "2@s.whatsapp.net", false, "", mk);
  REQUIRE_FALSE(bad_jid);
  CHECK(bad_jid.error().code == "bad_jid");
}

TEST_CASE("retry notification round trip") {
  const Bytes mk = random_media_key();
  Node n = must(build_retry_notification("MSG1", "222@s.whatsapp.net", false, "", "/v/t62/abc?ccb=1", mk));
  CHECK(n.attr_or("type", "") == "mediaretry");
  auto a = must(parse_retry_notification(n, mk));
  CHECK(a.msg_id == "MSG1");
  CHECK(a.result == 1);
  CHECK(a.direct_path == "/v/t62/abc?ccb=1");
  CHECK(a.error_code == 0);

  Node nf = must(build_retry_notification("MSG1", "222@s.whatsapp.net", false, "", "", mk));
  auto b = must(parse_retry_notification(nf, mk));
  CHECK(b.result == 2);
  CHECK(b.direct_path.empty());

  auto wrong = parse_retry_notification(n, random_media_key());
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == "media_corrupt");
  // The id is the AAD: a notification moved to another message id fails.
  Node moved = n;
  moved.set_attr("id", "MSG2");
  auto m = parse_retry_notification(moved, mk);
  REQUIRE_FALSE(m);
  CHECK(m.error().code == "media_corrupt");

  auto e = must(parse_retry_notification(build_retry_error_notification("MSG1", "222@s.whatsapp.net", false, "", 2), mk));
  CHECK(e.error_code == 2);
  CHECK(e.direct_path.empty());

  Node empty("notification", Attrs{{"id", "X"}, {"type", "mediaretry"}});
  auto bad = parse_retry_notification(empty, mk);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "bad_stanza");
  Node bad_code = build_retry_error_notification("MSG1", "c", false, "", 0);
  CHECK_FALSE(parse_retry_notification(bad_code, mk));
}
