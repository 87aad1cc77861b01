// Contacts, presence and account stanzas (docs/PROTOCOL.md, "Contacts and
// presence"): the usync number check and about text, profile pictures, the
// block list, presence, the about text, and the IQ that unlinks this device.
// Builders and parsers only; every answer is outside bytes and is read
// without throwing (a malformed entry is skipped or an error value).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::message {

// The digits of a phone number given as "+1 555 123-4567", "15551234567",
// "15551234567@s.whatsapp.net" or "…@c.us"; empty when it is not one.
std::string phone_digits(std::string_view number);

// ---- usync: is a number on WhatsApp, and its LID ----
// <iq xmlns="usync" type="get" to=server><usync sid mode="query" context="interactive"
//   last="true" index="0"><query><contact/><lid/></query>
//   <list><user><contact>+DIGITS</contact></user>…</list></usync></iq>
binary::Node build_contact_query(std::span<const std::string> digits, std::string_view sid);

struct ContactAnswer {
  std::string digits;               // the number, as the server confirmed it
  bool exists = false;              // <contact type="in">
  std::optional<binary::Jid> pn;    // user@s.whatsapp.net
  std::optional<binary::Jid> lid;   // user@lid
};
// Both answer shapes: <user jid=PN><contact type/><lid val=LID/></user> (the
// WhatsApp Web query) and <user jid=LID pn_jid=PN><contact type/></user>
// (addressing_mode="lid"). Users without a readable phone number are
// skipped. iq_error:<code> for an error answer, bad_usync without a list.
Result<std::vector<ContactAnswer>> parse_contact_answer(const binary::Node& iq);

// ---- usync: about text ----
binary::Node build_about_query(const binary::Jid& user, std::string_view sid);
struct AboutAnswer {
  std::optional<std::string> text;  // absent: hidden from us (401) or none
  int64_t t = 0;                    // when it was set (unix seconds), 0 unknown
};
Result<AboutAnswer> parse_about_answer(const binary::Node& iq);
// <iq xmlns="status" type="set" to=server><status>TEXT</status></iq>
binary::Node build_about_set(std::string_view text);

// ---- profile pictures ----
// <iq xmlns="w:profile:picture" type="get" to=server target=JID>
//   <picture type="preview|image" query="url"/></iq>
binary::Node build_picture_get(const binary::Jid& target, bool full);
struct PictureAnswer {
  bool found = false;  // false: none (404, status 204)
  std::string url, id, type, direct_path;
};
// 404 and status="204" are "no picture"; other IQ errors (401: hidden
// from us) are iq_error:<code>.
Result<PictureAnswer> parse_picture_answer(const binary::Node& iq);
// Set (jpeg non-empty) or remove (empty) our own picture.
binary::Node build_picture_set(ByteView jpeg);

// ---- block list ----
binary::Node build_blocklist_get();
// action "block": jid is the LID, pn the phone number (W/B since 2026);
// "unblock": the LID only.
binary::Node build_blocklist_set(bool block, const binary::Jid& lid, const std::optional<binary::Jid>& pn);
struct BlockedEntry {
  binary::Jid jid;
  std::optional<binary::Jid> pn;
};
Result<std::vector<BlockedEntry>> parse_blocklist(const binary::Node& iq);

// ---- presence ----
binary::Node build_presence(bool available, std::string_view push_name);
binary::Node build_presence_subscribe(const binary::Jid& to);
struct Presence {
  binary::Jid from;
  bool available = true;
  std::optional<int64_t> last_seen;  // last="UNIX"; absent for "deny" or none
};
Result<Presence> parse_presence(const binary::Node& stanza);

// ---- notifications (server pushes) ----
// <notification type="picture" from><set|add jid id author/>|<delete jid/></notification>
struct PictureChange {
  std::string jid, action, id, author;  // action: set | delete
};
std::optional<PictureChange> parse_picture_notification(const binary::Node& n);
// <notification type="status" from t><set>TEXT</set></notification>
struct AboutChange {
  std::string jid, text;
  int64_t t = 0;
};
std::optional<AboutChange> parse_about_notification(const binary::Node& n);
// <notification type="account_sync"><blocklist><item jid action/>…</blocklist></notification>
struct BlocklistChange {
  std::string jid, action;  // block | unblock
};
std::vector<BlocklistChange> parse_blocklist_notification(const binary::Node& n);

// ---- logout ----
// <iq xmlns="md" type="set" to=server><remove-companion-device jid=OWN_DEVICE reason="user_initiated"/></iq>
binary::Node build_logout(const binary::Jid& own_device);

}  // namespace wa::message
