// Our Signal stack behind a JSON-lines pipe, so the interop script can pit
// it against npm libsignal / Baileys' group cipher. One request per stdin
// line, one response per stdout line. Binary fields are base64.
//
// usage: signal_interop_peer DB_PATH
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "wa/signal/keys.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/sqlite_store.hpp"

using nlohmann::json;

namespace {

json error_json(const wa::Error& e) { return {{"ok", false}, {"code", e.code}, {"message", e.message}}; }

wa::Bytes b64(const json& j, const char* key) {
  auto v = wa::from_base64(j.at(key).get<std::string>());
  if (!v) throw std::runtime_error(std::string("bad base64 in ") + key);
  return *v;
}

wa::store::Address address(const json& j) { return {j.at("name").get<std::string>(), j.at("device").get<uint32_t>()}; }

json handle(const json& req, wa::store::Store& st, wa::signal::SignalSession& sig) {
  const std::string op = req.at("op").get<std::string>();
  if (op == "bundle") {
    auto reg = st.get_credential(wa::store::cred::registration_id);
    auto id = st.get_credential(wa::store::cred::identity_pub);
    auto spk = st.load_signed_prekey(1);
    auto pk = wa::signal::generate_and_store_prekeys(st, 1);
    if (!reg || !*reg || !id || !*id || !spk || !*spk || !pk) return {{"ok", false}, {"code", "setup"}};
    return {{"ok", true},
            {"registration_id", *wa::store::decode_u32(**reg)},
            {"identity", wa::to_base64(**id)},
            {"signed_prekey",
             {{"id", (*spk)->id}, {"pub", wa::to_base64((*spk)->pub)}, {"sig", wa::to_base64((*spk)->signature)}}},
            {"prekey", {{"id", (*pk)[0].id}, {"pub", wa::to_base64((*pk)[0].pub)}}}};
  }
  if (op == "process_bundle") {
    wa::signal::PreKeyBundle b;
    b.registration_id = req.at("registration_id").get<uint32_t>();
    b.device_id = req.at("device").get<uint32_t>();
    b.identity_key = b64(req, "identity");
    const auto& spk = req.at("signed_prekey");
    b.signed_prekey_id = spk.at("id").get<uint32_t>();
    b.signed_prekey_pub = b64(spk, "pub");
    b.signed_prekey_signature = b64(spk, "sig");
    if (req.contains("prekey")) {
      b.prekey_id = req["prekey"].at("id").get<uint32_t>();
      b.prekey_pub = b64(req["prekey"], "pub");
    }
    auto r = sig.process_bundle(address(req), b);
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"installed", *r}};
  }
  if (op == "encrypt") {
    auto r = sig.encrypt(address(req), b64(req, "pt"));
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"type", std::string(wa::signal::enc_type(r->type))}, {"ct", wa::to_base64(r->data)}};
  }
  if (op == "decrypt") {
    const auto type = req.at("type").get<std::string>();
    auto ct = b64(req, "ct");
    auto r = type == "pkmsg" ? sig.decrypt_pkmsg(address(req), ct) : sig.decrypt_msg(address(req), ct);
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"pt", wa::to_base64(*r)}};
  }
  if (op == "skdm") {
    auto r = sig.create_sender_key_distribution(req.at("group").get<std::string>(), address(req));
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"skdm", wa::to_base64(*r)}};
  }
  if (op == "process_skdm") {
    auto r = sig.process_sender_key_distribution(req.at("group").get<std::string>(), address(req), b64(req, "skdm"));
    if (!r) return error_json(r.error());
    return {{"ok", true}};
  }
  if (op == "group_encrypt") {
    auto r = sig.group_encrypt(req.at("group").get<std::string>(), address(req), b64(req, "pt"));
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"ct", wa::to_base64(*r)}};
  }
  if (op == "group_decrypt") {
    auto r = sig.group_decrypt(req.at("group").get<std::string>(), address(req), b64(req, "ct"));
    if (!r) return error_json(r.error());
    return {{"ok", true}, {"pt", wa::to_base64(*r)}};
  }
  return {{"ok", false}, {"code", "unknown_op"}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: signal_interop_peer DB_PATH\n";
    return 2;
  }
  auto st = wa::store::open_sqlite(argv[1]);
  if (!st) return 1;
  if (!wa::signal::ensure_registration(**st)) return 1;
  auto sig = wa::signal::SignalSession::create(**st);
  if (!sig) return 1;
  std::string line;
  while (std::getline(std::cin, line)) {
    json resp;
    try {
      resp = handle(json::parse(line), **st, **sig);
    } catch (const std::exception& e) {
      resp = {{"ok", false}, {"code", "bad_request"}, {"message", e.what()}};
    }
    std::cout << resp.dump() << '\n' << std::flush;
  }
  return 0;
}
