// The content kinds beside text and media (issue 14): msg_type read from the
// decrypted message through its envelopes, locations, contact cards and
// revokes as Baileys' WAProto writes them, and a revoke's stanza attributes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "profile.hpp"
#include "temp_dir.hpp"
#include "wa/message/content.hpp"
#include "wa/message/media.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using test::must;

namespace {

proto::Message parsed(const Bytes& b) {
  proto::Message m;
  REQUIRE(m.ParseFromArray(b.data(), static_cast<int>(b.size())));
  return m;
}

}  // namespace

TEST_CASE("content type: each kind, and text inside a disappearing-chat or view-once envelope") {
  proto::Message text;
  text.set_conversation("hi");
  CHECK(message::content_type(text) == "text");

  proto::Message eph;
  eph.mutable_ephemeralmessage()->mutable_message()->mutable_extendedtextmessage()->set_text("vanishing");
  CHECK(message::content_type(eph) == "text");
  auto s = message::summarize(eph);
  CHECK(s.text == "vanishing");
  CHECK(s.type == "text");
  CHECK(s.has_content);

  proto::Message once;
  auto* img = once.mutable_viewoncemessagev2()->mutable_message()->mutable_imagemessage();
  img->set_mediakey(std::string(32, 'k'));
  img->set_directpath("/v/x");
  img->set_mimetype("image/jpeg");
  CHECK(message::content_type(once) == "image");
  auto media = message::find_media(once);
  REQUIRE(media.has_value());
  CHECK(media->view_once);

  proto::Message loc;
  loc.mutable_locationmessage()->set_degreeslatitude(1);
  CHECK(message::content_type(loc) == "location");
  loc.mutable_locationmessage()->set_islive(true);
  CHECK(message::content_type(loc) == "live_location");
  proto::Message card;
  card.mutable_contactmessage()->set_displayname("x");
  CHECK(message::content_type(card) == "contact");
  proto::Message revoke;
  revoke.mutable_protocolmessage()->set_type(proto::Message::ProtocolMessage::REVOKE);
  CHECK(message::content_type(revoke) == "revoke");
  proto::Message edit;
  edit.mutable_protocolmessage()->set_type(proto::Message::ProtocolMessage::MESSAGE_EDIT);
  CHECK(message::content_type(edit) == "edit");
  proto::Message keys;
  keys.mutable_protocolmessage()->set_type(proto::Message::ProtocolMessage::APP_STATE_SYNC_KEY_SHARE);
  CHECK(message::content_type(keys) == "protocol");
  proto::Message unknown;
  unknown.mutable_messagecontextinfo()->set_messagesecret("s");
  CHECK(message::content_type(unknown) == "unknown");

  // A hostile nesting is opened five levels deep and no further.
  proto::Message deep;
  proto::Message* cur = &deep;
  for (int i = 0; i < 50; ++i) cur = cur->mutable_ephemeralmessage()->mutable_message();
  cur->set_conversation("too deep");
  CHECK(message::content_type(deep) == "unknown");
}

TEST_CASE("location: field numbers as WAProto, bounds refused, hostile values read safely") {
  message::Location l;
  l.latitude = -33.8568;
  l.longitude = 151.2153;
  l.name = "Opera House";
  l.address = "Bennelong Point";
  proto::ContextInfo ci;
  ci.set_stanzaid("QUOTED1");
  auto bytes = must(message::build_location(l, &ci));
  auto m = parsed(bytes);
  REQUIRE(m.has_locationmessage());
  CHECK(m.locationmessage().degreeslatitude() == doctest::Approx(-33.8568));
  CHECK(m.locationmessage().name() == "Opera House");
  CHECK(message::quoted_id_of(m) == "QUOTED1");
  CHECK(message::media_type_of(bytes).empty());  // a location is a text stanza
  auto back = message::find_location(m);
  REQUIRE(back.has_value());
  CHECK(back->longitude == doctest::Approx(151.2153));
  CHECK(back->address == "Bennelong Point");
  CHECK_FALSE(back->live);

  l.latitude = 90.5;
  CHECK(message::build_location(l, nullptr).error().code == "bad_request");
  l.latitude = std::numeric_limits<double>::quiet_NaN();
  CHECK(message::build_location(l, nullptr).error().code == "bad_request");
  l.latitude = 0;
  l.name = std::string(1025, 'n');
  CHECK(message::build_location(l, nullptr).error().code == "bad_request");

  proto::Message hostile;
  hostile.mutable_livelocationmessage()->set_degreeslatitude(std::numeric_limits<double>::infinity());
  hostile.mutable_livelocationmessage()->set_caption(std::string(5000, 'c'));
  auto h = message::find_location(hostile);
  REQUIRE(h.has_value());
  CHECK(std::isfinite(h->latitude));
  CHECK(h->comment.size() == message::kMaxLocationText);
  CHECK(h->live);
}

TEST_CASE("contact cards: one is a contactMessage, several a contactsArrayMessage, vCards escaped") {
  auto v = must(message::make_vcard("Doe, Jane; Dr", "+1 (555) 010-9999"));
  CHECK(v.find("FN:Doe\\, Jane\\; Dr\n") != std::string::npos);
  CHECK(v.find("waid=15550109999:+15550109999") != std::string::npos);
  CHECK(message::make_vcard("", "15550109999").error().code == "bad_request");
  CHECK(message::make_vcard("x", "12").error().code == "bad_request");
  CHECK(message::make_vcard("x", "1555abc0199").error().code == "bad_request");

  message::ContactCard one{"Jane", v};
  auto m1 = parsed(must(message::build_contacts(std::span(&one, 1), nullptr)));
  REQUIRE(m1.has_contactmessage());
  CHECK(m1.contactmessage().displayname() == "Jane");
  CHECK(message::media_type_of(m1) == "vcard");
  std::vector<message::ContactCard> two{one, {"John", v}};
  auto m2 = parsed(must(message::build_contacts(two, nullptr)));
  REQUIRE(m2.has_contactsarraymessage());
  CHECK(m2.contactsarraymessage().contacts_size() == 2);
  CHECK(message::media_type_of(m2) == "contact_array");
  auto cards = message::find_contacts(m2);
  REQUIRE(cards.size() == 2);
  CHECK(cards[1].name == "John");
  CHECK(message::find_contacts(proto::Message{}).empty());
  std::vector<message::ContactCard> many(21, one);
  CHECK(message::build_contacts(many, nullptr).error().code == "bad_request");
  message::ContactCard empty_vcard{"x", ""};
  CHECK(message::build_contacts(std::span(&empty_vcard, 1), nullptr).error().code == "bad_request");
}

TEST_CASE("revoke: the key from the revoker's side, and edit 7 or 8 on the stanza with hidden failures") {
  message::TargetKey own{"222@s.whatsapp.net", true, "3EB0OWN", ""};
  auto bytes = must(message::build_revoke(own));
  auto m = parsed(bytes);
  REQUIRE(m.has_protocolmessage());
  CHECK(m.protocolmessage().type() == proto::Message::ProtocolMessage::REVOKE);
  CHECK(m.protocolmessage().key().fromme());
  CHECK(m.protocolmessage().key().id() == "3EB0OWN");
  auto back = message::find_revoke(m);
  REQUIRE(back.has_value());
  CHECK(back->from_me);
  CHECK(back->chat == "222@s.whatsapp.net");
  CHECK(message::build_revoke(message::TargetKey{"x@g.us", true, "", ""}).error().code == "bad_request");
  proto::Message long_id;
  long_id.mutable_protocolmessage()->set_type(proto::Message::ProtocolMessage::REVOKE);
  long_id.mutable_protocolmessage()->mutable_key()->set_id(std::string(129, 'i'));
  CHECK_FALSE(message::find_revoke(long_id).has_value());

  // On the wire: A deletes its own message to B, and an admin deletes a member's.
  test::TempDir dir;
  test::Device a{dir.file("a.db"), "111:1@s.whatsapp.net"};
  test::Device b{dir.file("b.db"), "222@s.whatsapp.net"};
  binary::Children users{b.bundle_user()};
  auto fetched = must(message::parse_prekey_response(test::wire(test::prekey_response(std::move(users)))));
  must(message::install_bundles(*a.sig, fetched));
  std::vector<binary::Jid> b_devices{b.jid};
  message::Outgoing out{"3EB0REVOKE1", must(binary::Jid::parse("222@s.whatsapp.net")), bytes};
  auto built = must(message::build_direct_message(*a.sig, a.self(), out, b_devices, {}));
  auto stanza = test::wire(built.stanza);
  CHECK(stanza.attr_or("edit", "") == "7");
  CHECK(stanza.attr_or("type", "") == "text");
  const auto* parts = stanza.child("participants");
  REQUIRE(parts);
  const auto* enc = parts->children("to").front()->child("enc");
  REQUIRE(enc);
  CHECK(enc->attr_or("decrypt-fail", "") == "hide");
  auto in = must(message::decrypt_message(*b.sig, b.self(), test::wire(test::deliver(stanza, a.jid, b.jid, false))));
  CHECK(in.msg_type == "revoke");

  message::TargetKey member{"123@g.us", false, "3EB0MEMBER", "333@s.whatsapp.net"};
  message::Outgoing admin{"3EB0REVOKE2", must(binary::Jid::parse("222@s.whatsapp.net")),
                          must(message::build_revoke(member))};
  auto built2 = must(message::build_direct_message(*a.sig, a.self(), admin, b_devices, {}));
  CHECK(test::wire(built2.stanza).attr_or("edit", "") == "8");
}
