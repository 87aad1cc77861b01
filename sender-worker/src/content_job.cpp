// The send jobs of the plain content kinds: a location, contact cards and a
// revoke. Each builds its Message (wa/message/content.hpp) and sends it
// like a text through run_built_job: one send, answered on the server's ack.
#include "job.hpp"

#include "wa/message/content.hpp"

namespace wa::sender {

namespace {

std::string text_field(const json& payload, const char* key) {
  auto it = payload.find(key);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The reply context of a content kind that quotes (nullopt: not a reply).
Result<std::optional<proto::ContextInfo>> quote_of(store::Store& st, const binary::Jid& to, const json& payload) {
  if (!payload.contains("quoted_id")) return std::optional<proto::ContextInfo>{};
  proto::ContextInfo ci;
  WA_TRY(add_quote(st, to, payload, ci));
  return std::optional<proto::ContextInfo>{std::move(ci)};
}

Result<Bytes> build_location(store::Store& st, const binary::Jid& to, const json& payload) {
  const auto lat = payload.find("latitude");
  const auto lng = payload.find("longitude");
  if (lat == payload.end() || lng == payload.end() || !lat->is_number() || !lng->is_number())
    return fail("bad_request", "a location needs a latitude and a longitude");
  message::Location loc;
  loc.latitude = lat->get<double>();
  loc.longitude = lng->get<double>();
  loc.name = text_field(payload, "name");
  loc.address = text_field(payload, "address");
  loc.url = text_field(payload, "url");
  auto ci = quote_of(st, to, payload);
  if (!ci) return Unexpected<Error>{ci.error()};
  return message::build_location(loc, *ci ? &**ci : nullptr);
}

Result<Bytes> build_contact(store::Store& st, const binary::Jid& to, const json& payload) {
  message::ContactCard card;
  card.name = text_field(payload, "name");
  card.vcard = text_field(payload, "vcard");
  if (card.vcard.empty()) {
    auto v = message::make_vcard(card.name, text_field(payload, "phone"));
    if (!v) return Unexpected<Error>{v.error()};
    card.vcard = std::move(*v);
  } else if (!card.vcard.starts_with("BEGIN:VCARD")) {
    return fail("bad_request", "a vcard starts with BEGIN:VCARD");
  }
  auto ci = quote_of(st, to, payload);
  if (!ci) return Unexpected<Error>{ci.error()};
  return message::build_contacts(std::span(&card, 1), *ci ? &**ci : nullptr);
}

Result<Bytes> build_revoke(store::Store& st, const binary::Jid& to, const json& payload) {
  auto target = job_target(st, to, payload, "deleting");
  if (!target) return Unexpected<Error>{target.error()};
  // In a 1:1 chat only the author deletes for everyone; in a group an admin
  // may delete anyone's (the server refuses the stanza from a non-admin).
  if (!target->from_me && !to.is_group())
    return fail("not_own_message",
                "only our own messages can be deleted for everyone in a 1:1 chat (not found among the messages we "
                "sent: give `sender` as our own JID if it is ours)");
  return message::build_revoke(*target);
}

}  // namespace

json run_location_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                      const std::string& conversation, uint64_t job, const json& payload) {
  return run_built_job(st, sig, query, conversation, job, payload,
                       [&](const binary::Jid& to) { return build_location(st, to, payload); });
}

json run_contact_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                     const std::string& conversation, uint64_t job, const json& payload) {
  return run_built_job(st, sig, query, conversation, job, payload,
                       [&](const binary::Jid& to) { return build_contact(st, to, payload); });
}

json run_revoke_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                    const std::string& conversation, uint64_t job, const json& payload) {
  return run_built_job(st, sig, query, conversation, job, payload,
                       [&](const binary::Jid& to) { return build_revoke(st, to, payload); });
}

}  // namespace wa::sender
