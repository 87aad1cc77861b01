#include "wa/message/content.hpp"

#include <cmath>

#include "wa/message/media.hpp"
#include "wa/proto/message.pb.h"

namespace wa::message {

namespace {

Bytes serialized(const proto::Message& m) {
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

// Outside text is cut, never trusted to be short.
std::string bounded(const std::string& s, size_t max) { return s.size() <= max ? s : s.substr(0, max); }

}  // namespace

std::string content_type(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  if (m.has_conversation() || m.has_extendedtextmessage()) return "text";
  if (m.has_reactionmessage()) return "reaction";
  // The message-secret add-ons (addons.hpp reads them).
  if (m.has_pollcreationmessage() || m.has_pollcreationmessagev2() || m.has_pollcreationmessagev3()) return "poll";
  if (m.has_pollupdatemessage()) return "poll_vote";
  if (m.has_editedmessage()) return "edit";
  if (m.has_secretencryptedmessage())
    return m.secretencryptedmessage().secretenctype() == proto::Message::SecretEncryptedMessage::MESSAGE_EDIT
               ? "edit"
               : "unknown";
  if (auto kind = media_kind(outer); !kind.empty()) return kind;
  if (m.has_locationmessage()) return m.locationmessage().islive() ? "live_location" : "location";
  if (m.has_livelocationmessage()) return "live_location";
  if (m.has_contactmessage() || m.has_contactsarraymessage()) return "contact";
  if (m.has_protocolmessage()) {
    switch (m.protocolmessage().type()) {
      case proto::Message::ProtocolMessage::REVOKE: return "revoke";
      case proto::Message::ProtocolMessage::MESSAGE_EDIT: return "edit";
      default: return "protocol";
    }
  }
  return "unknown";
}

Result<Bytes> build_location(const Location& loc, const proto::ContextInfo* ci) {
  if (!std::isfinite(loc.latitude) || !std::isfinite(loc.longitude) || std::fabs(loc.latitude) > 90 ||
      std::fabs(loc.longitude) > 180)
    return fail("bad_request", "latitude must be within [-90, 90] and longitude within [-180, 180]");
  for (const std::string* s : {&loc.name, &loc.address, &loc.url, &loc.comment})
    if (s->size() > kMaxLocationText) return fail("bad_request", "a location's text fields are at most 1024 bytes");
  proto::Message m;
  auto* l = m.mutable_locationmessage();
  l->set_degreeslatitude(loc.latitude);
  l->set_degreeslongitude(loc.longitude);
  if (!loc.name.empty()) l->set_name(loc.name);
  if (!loc.address.empty()) l->set_address(loc.address);
  if (!loc.url.empty()) l->set_url(loc.url);
  if (!loc.comment.empty()) l->set_comment(loc.comment);
  if (loc.accuracy_m) l->set_accuracyinmeters(loc.accuracy_m);
  if (ci) *l->mutable_contextinfo() = *ci;
  return serialized(m);
}

std::optional<Location> find_location(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  Location out;
  if (m.has_locationmessage()) {
    const auto& l = m.locationmessage();
    out.latitude = l.degreeslatitude();
    out.longitude = l.degreeslongitude();
    out.name = bounded(l.name(), kMaxLocationText);
    out.address = bounded(l.address(), kMaxLocationText);
    out.url = bounded(l.url(), kMaxLocationText);
    out.comment = bounded(l.comment(), kMaxLocationText);
    out.accuracy_m = l.accuracyinmeters();
    out.live = l.islive();
    if (l.has_contextinfo()) out.quoted_id = l.contextinfo().stanzaid();
  } else if (m.has_livelocationmessage()) {
    const auto& l = m.livelocationmessage();
    out.latitude = l.degreeslatitude();
    out.longitude = l.degreeslongitude();
    out.comment = bounded(l.caption(), kMaxLocationText);
    out.accuracy_m = l.accuracyinmeters();
    out.live = true;
    if (l.has_contextinfo()) out.quoted_id = l.contextinfo().stanzaid();
  } else {
    return std::nullopt;
  }
  // A NaN or infinite coordinate from outside is no position (JSON cannot
  // carry it either).
  if (!std::isfinite(out.latitude) || !std::isfinite(out.longitude)) out.latitude = out.longitude = 0;
  return out;
}

Result<Bytes> build_contacts(std::span<const ContactCard> cards, const proto::ContextInfo* ci) {
  if (cards.empty()) return fail("bad_request", "no contact card");
  if (cards.size() > kMaxContactCards) return fail("bad_request", "at most 20 contact cards in one message");
  for (const auto& c : cards) {
    if (c.name.empty() || c.name.size() > kMaxLocationText)
      return fail("bad_request", "a contact card needs a name of at most 1024 bytes");
    if (c.vcard.empty() || c.vcard.size() > kMaxVcardBytes)
      return fail("bad_request", "a contact card needs a vCard of at most 16 KiB");
  }
  proto::Message m;
  auto fill = [](proto::Message::ContactMessage& out, const ContactCard& c) {
    out.set_displayname(c.name);
    out.set_vcard(c.vcard);
  };
  if (cards.size() == 1) {
    auto* c = m.mutable_contactmessage();
    fill(*c, cards.front());
    if (ci) *c->mutable_contextinfo() = *ci;
  } else {
    auto* arr = m.mutable_contactsarraymessage();
    arr->set_displayname(std::to_string(cards.size()) + " contacts");
    for (const auto& card : cards) fill(*arr->add_contacts(), card);
    if (ci) *arr->mutable_contextinfo() = *ci;
  }
  return serialized(m);
}

std::vector<ContactCard> find_contacts(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  std::vector<ContactCard> out;
  auto take = [&](const proto::Message::ContactMessage& c) {
    if (out.size() < kMaxContactCards)
      out.push_back({bounded(c.displayname(), kMaxLocationText), bounded(c.vcard(), kMaxVcardBytes)});
  };
  if (m.has_contactmessage()) take(m.contactmessage());
  if (m.has_contactsarraymessage())
    for (const auto& c : m.contactsarraymessage().contacts()) take(c);
  return out;
}

Result<std::string> make_vcard(std::string_view name, std::string_view phone) {
  if (name.empty() || name.size() > kMaxLocationText) return fail("bad_request", "a contact needs a name");
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != '+' && c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
      return fail("bad_request", "a phone number has digits, spaces and + - ( ) . only");
    }
  }
  if (digits.size() < 5 || digits.size() > 20) return fail("bad_request", "a phone number has 5 to 20 digits");
  // vCard text values escape backslash, comma, semicolon and newlines
  // (RFC 2426 §4); a name is one line.
  std::string fn;
  for (char c : name) {
    if (c == '\\' || c == ',' || c == ';') {
      fn.push_back('\\');
      fn.push_back(c);
    } else if (c == '\n' || c == '\r') {
      fn += "\\n";
    } else {
      fn.push_back(c);
    }
  }
  return "BEGIN:VCARD\nVERSION:3.0\nFN:" + fn + "\nTEL;type=CELL;type=VOICE;waid=" + digits + ":+" + digits +
         "\nEND:VCARD";
}

Result<Bytes> build_revoke(const TargetKey& target) {
  if (target.id.empty() || target.chat.empty()) return fail("bad_request", "a revoke needs the message's chat and id");
  proto::Message m;
  auto* p = m.mutable_protocolmessage();
  p->set_type(proto::Message::ProtocolMessage::REVOKE);
  auto* key = p->mutable_key();
  key->set_remotejid(target.chat);
  key->set_fromme(target.from_me);
  key->set_id(target.id);
  if (!target.participant.empty()) key->set_participant(target.participant);
  return serialized(m);
}

std::optional<TargetKey> find_revoke(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  if (!m.has_protocolmessage() || m.protocolmessage().type() != proto::Message::ProtocolMessage::REVOKE ||
      !m.protocolmessage().has_key())
    return std::nullopt;
  const auto& k = m.protocolmessage().key();
  if (k.id().empty() || k.id().size() > 128) return std::nullopt;
  return TargetKey{k.remotejid(), k.fromme(), k.id(), k.participant()};
}

std::string quoted_id_of(const proto::Message& outer) {
  const proto::Message& m = media_content(outer);
  auto from = [](const auto& part) -> std::string {
    return part.has_contextinfo() ? bounded(part.contextinfo().stanzaid(), 128) : std::string();
  };
  if (m.has_extendedtextmessage()) return from(m.extendedtextmessage());
  if (m.has_locationmessage()) return from(m.locationmessage());
  if (m.has_livelocationmessage()) return from(m.livelocationmessage());
  if (m.has_contactmessage()) return from(m.contactmessage());
  if (m.has_contactsarraymessage()) return from(m.contactsarraymessage());
  if (m.has_imagemessage()) return from(m.imagemessage());
  if (m.has_videomessage()) return from(m.videomessage());
  if (m.has_audiomessage()) return from(m.audiomessage());
  if (m.has_documentmessage()) return from(m.documentmessage());
  if (m.has_stickermessage()) return from(m.stickermessage());
  return "";
}

}  // namespace wa::message
