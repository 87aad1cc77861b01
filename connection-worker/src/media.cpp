#include "media.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "wa/binary/jid.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/log.hpp"
#include "wa/media/media.hpp"
#include "wa/message/media.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"

namespace wa::connection {

using json = nlohmann::json;

// One download: asked by a client (reply) or by the auto-download policy
// (events), possibly waiting for the phone in between.
struct MediaCommands::Fetch {
  std::string id;
  std::string chat;
  std::string out;  // the file to write
  Reply reply;      // empty: an auto-download
  bool retried = false;
  std::unique_ptr<ipc::Timer> wait;  // for the phone's answer
};

namespace {

// A file name for a message id: ids are [0-9A-Za-z] in practice; anything
// else becomes '_' so an id never names a path.
std::string safe_name(const std::string& id) {
  std::string s = id;
  std::replace_if(s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s.empty() ? "media" : s;
}

std::string extension(const std::string& mimetype) {
  static const std::map<std::string, std::string, std::less<>> kExt{
      {"image/jpeg", "jpg"},      {"image/png", "png"},  {"image/webp", "webp"}, {"image/gif", "gif"},
      {"video/mp4", "mp4"},       {"video/3gpp", "3gp"}, {"audio/ogg", "ogg"},   {"audio/mpeg", "mp3"},
      {"audio/mp4", "m4a"},       {"audio/aac", "aac"},  {"application/pdf", "pdf"}, {"text/plain", "txt"},
      {"application/zip", "zip"},
  };
  std::string base = mimetype.substr(0, mimetype.find(';'));
  auto it = kExt.find(base);
  return it == kExt.end() ? "bin" : it->second;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

json error_of(const Error& e) { return ipc::error_reply(e.code, e.message); }

}  // namespace

MediaCommands::MediaCommands(uv_loop_t* loop, Client& client, SenderPool& senders,
                             const contract::WorkerSettings& settings, std::string profile, std::string store_path,
                             Event event)
    : loop_(loop),
      client_(client),
      senders_(senders),
      settings_(settings),
      profile_(std::move(profile)),
      store_path_(std::move(store_path)),
      event_(std::move(event)) {
  // A download cut by a killed sender leaves its temporary file (NAME.part-XXXXXX).
  // The senders are gone whenever this worker starts (rest_for_one), so
  // every such file in the profile's media directory is stale.
  std::error_code ec;
  const std::string dir = contract::media_dir(settings_.data_dir, profile_);
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".part-") != std::string::npos) std::filesystem::remove(e.path(), ec);
}

MediaCommands::~MediaCommands() {
  // Nobody answers them any more: the worker is going away.
  for (auto& [id, f] : waiting_)
    if (f->reply) f->reply(ipc::error_reply("instance_down", "the connection worker stopped"));
}

Result<store::Store*> MediaCommands::store() {
  if (!store_) {
    auto st = store::open(store_path_);
    if (!st) return Unexpected<Error>{st.error()};
    store_ = std::move(*st);
  }
  return store_.get();
}

json MediaCommands::transfer_fields() const {
  return json{{"ca_file", settings_.server.media_ca_file},
              {"transfer_timeout_ms", settings_.senders.transfer_timeout_ms},
              {"roots", settings_.media.allowed_roots}};
}

void MediaCommands::send_media(const json& args, Reply reply) {
  auto to = ipc::field<std::string>(args, "to");
  auto path = ipc::field<std::string>(args, "path");
  if (!to || !path) return reply(ipc::error_reply("bad_request", (!to ? to.error() : path.error()).message));
  // Checked here for a quick answer, and again by the sender on the file it
  // opens (the path could change in between).
  auto real = fs::resolve_under(*path, settings_.media.allowed_roots, true);
  if (!real) return reply(error_of(real.error()));
  json payload = transfer_fields();
  payload["kind"] = "media";
  payload["to"] = *to;
  payload["path"] = *real;
  for (const char* k : {"type", "caption", "filename", "quoted_id", "quoted_sender"})
    if (args.contains(k)) payload[k] = args[k];
  senders_.submit(*to, std::move(payload), std::move(reply));
}

void MediaCommands::download(const json& args, Reply reply) {
  auto id = ipc::field<std::string>(args, "id");
  if (!id) return reply(ipc::error_reply("bad_request", id.error().message));
  auto chat_arg = ipc::field_or<std::string>(args, "chat", "");
  if (!chat_arg) return reply(ipc::error_reply("bad_request", chat_arg.error().message));
  const std::string chat = *chat_arg;
  auto st = store();
  if (!st) return reply(error_of(st.error()));
  auto ref = (*st)->media_get(*id, chat);
  if (!ref) return reply(error_of(ref.error()));
  if (!*ref) return reply(ipc::error_reply("not_media", "no received media message " + *id));
  auto media = message::find_media((*ref)->message);
  if (!media) return reply(ipc::error_reply("not_media", "message " + *id + " holds no media"));

  auto f = std::make_shared<Fetch>();
  f->id = *id;
  f->chat = (*ref)->chat;
  f->reply = std::move(reply);
  const std::string dir = contract::media_dir(settings_.data_dir, profile_);
  if (auto given = ipc::field_or<std::string>(args, "path", ""); given && !given->empty()) {
    std::vector<std::string> roots = settings_.media.allowed_roots;
    roots.push_back(dir);
    auto out = fs::resolve_under(*given, roots, false);
    if (!out) return f->reply(error_of(out.error()));
    f->out = *out;
  } else {
    // Already fetched and verified: the same file again.
    if (!(*ref)->local_path.empty() && exists((*ref)->local_path))
      return f->reply(ipc::ok_reply({{"id", f->id},
                                     {"chat", f->chat},
                                     {"path", (*ref)->local_path},
                                     {"size", media->size},
                                     {"mimetype", media->mimetype},
                                     {"retried", false}}));
    if (auto d = fs::ensure_private_dir(dir); !d) return f->reply(error_of(d.error()));
    f->out = dir + "/" + safe_name(f->id) + "." + extension(media->mimetype);
  }
  run_fetch(std::move(f));
}

void MediaCommands::on_event(const json& ev) {
  if (settings_.media.auto_download.empty() || ev.value("type", "") != "message" || !ev.contains("media")) return;
  const std::string kind = ev.value("msg_type", "");
  const auto& kinds = settings_.media.auto_download;
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) return;
  const json& size = ev["size"];
  if (!size.is_number_unsigned() || size.get<uint64_t>() > static_cast<uint64_t>(settings_.media.auto_download_max_bytes))
    return;
  auto f = std::make_shared<Fetch>();
  f->id = ev["media"].value("id", "");
  f->chat = ev["media"].value("chat", "");
  if (f->id.empty() || f->chat.empty()) return;
  const std::string dir = contract::media_dir(settings_.data_dir, profile_);
  if (auto d = fs::ensure_private_dir(dir); !d) {
    WA_WARN("auto-download: %s", d.error().message.c_str());
    return;
  }
  f->out = dir + "/" + safe_name(f->id) + "." + extension(ev.value("mimetype", ""));
  run_fetch(std::move(f));
}

void MediaCommands::run_fetch(std::shared_ptr<Fetch> f) {
  json payload = transfer_fields();
  payload["kind"] = "download";
  payload["id"] = f->id;
  payload["chat"] = f->chat;
  payload["out"] = f->out;
  const std::string chat = f->chat;
  // The pool may answer after we are gone (it fails what it holds when the
  // worker stops): then nobody is left to tell.
  std::weak_ptr<bool> alive = alive_;
  senders_.submit(chat, std::move(payload), [this, alive, f](json reply) {
    if (alive.lock()) after_fetch(f, std::move(reply));
  });
}

void MediaCommands::after_fetch(std::shared_ptr<Fetch> f, json reply) {
  const bool ok = reply.value("ok", false);
  if (!ok) {
    const json& e = reply["error"];
    const std::string code = e.is_object() ? e.value("code", "") : "";
    // Once: a second expiry means the phone's new upload is gone too.
    if (code == "media_expired" && !f->retried && client_.logged_in()) return ask_phone(std::move(f));
    return finish(f, std::move(reply));
  }
  // Remember where the verified file is: the next download answers with it.
  if (auto st = store()) {
    auto ref = (*st)->media_get(f->id, f->chat);
    if (ref && *ref) {
      (*ref)->local_path = f->out;
      if (auto u = (*st)->media_update(**ref); !u) WA_WARN("media %s: %s", f->id.c_str(), u.error().code.c_str());
    }
  }
  finish(f, std::move(reply));
}

void MediaCommands::ask_phone(std::shared_ptr<Fetch> f) {
  // One request to the phone per message: a second download of it fails.
  if (waiting_.count(f->id) != 0)
    return finish(f, ipc::error_reply("media_expired", "a media retry for this message is already waiting"));
  auto st = store();
  if (!st) return finish(f, error_of(st.error()));
  auto ref = (*st)->media_get(f->id, f->chat);
  if (!ref || !*ref) return finish(f, ipc::error_reply("not_media", "the media message is gone"));
  auto media = message::find_media((*ref)->message);
  auto own = binary::Jid::parse(client_.credentials().jid);
  auto chat = binary::Jid::parse(f->chat);
  auto sender = binary::Jid::parse((*ref)->sender);
  if (!media || !own || !chat || !sender) return finish(f, ipc::error_reply("not_media", "the media message is unusable"));
  const bool from_me = sender->user == own->user;
  const std::string participant = chat->is_group() ? sender->to_non_ad().str() : "";
  auto receipt =
      media::build_retry_receipt(f->id, own->to_non_ad().str(), f->chat, from_me, participant, media->media_key);
  secure_wipe(media->media_key);
  if (!receipt) return finish(f, error_of(receipt.error()));
  if (auto sent = client_.send_node(*receipt); !sent) return finish(f, error_of(sent.error()));
  WA_INFO("media %s expired at the host: asked the sender's phone to upload it again", f->id.c_str());
  f->retried = true;
  f->wait = std::make_unique<ipc::Timer>(loop_);
  const std::string id = f->id;
  f->wait->start(kRetryWaitMs, [this, id] {
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;
    auto w = it->second;
    waiting_.erase(it);
    finish(w, ipc::error_reply("media_expired", "the media host no longer has the file and the sender's phone "
                                                "did not upload it again"));
  });
  waiting_[id] = std::move(f);
}

bool MediaCommands::on_retry_notification(const binary::Node& n) {
  const std::string id(n.attr_or("id", ""));
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return false;  // not ours to wait for: acked by the receive path
  auto f = it->second;
  waiting_.erase(it);
  if (f->wait) f->wait->stop();
  auto st = store();
  if (!st) {
    finish(f, error_of(st.error()));
    return false;
  }
  auto ref = (*st)->media_get(f->id, f->chat);
  auto media = ref && *ref ? message::find_media((*ref)->message) : std::nullopt;
  if (!media) {
    finish(f, ipc::error_reply("not_media", "the media message is gone"));
    return false;
  }
  auto answer = media::parse_retry_notification(n, media->media_key);
  secure_wipe(media->media_key);
  if (!answer || answer->direct_path.empty()) {
    const std::string why = !answer ? answer.error().code
                                    : "the phone answered " + std::to_string(answer->error_code ? answer->error_code
                                                                                                 : answer->result);
    finish(f, ipc::error_reply("media_expired", "the sender's phone could not upload the file again (" + why + ")"));
    return false;
  }
  auto updated = message::with_direct_path((*ref)->message, answer->direct_path);
  if (!updated) {
    finish(f, error_of(updated.error()));
    return false;
  }
  (*ref)->message = std::move(*updated);
  if (auto u = (*st)->media_update(**ref); !u) {
    finish(f, error_of(u.error()));
    return false;
  }
  run_fetch(std::move(f));
  return false;  // the receive path acks it
}

void MediaCommands::finish(const std::shared_ptr<Fetch>& f, json reply) {
  const bool ok = reply.value("ok", false);
  if (ok && reply["result"].is_object()) reply["result"]["retried"] = f->retried;
  if (f->reply) return f->reply(std::move(reply));
  // An auto-download: its outcome is an event.
  if (ok) {
    json ev{{"type", "media_downloaded"}, {"id", f->id}, {"chat", f->chat}, {"path", f->out}};
    for (const char* k : {"size", "mimetype"})
      if (reply["result"].contains(k)) ev[k] = reply["result"][k];
    event_(std::move(ev));
  } else {
    const json& e = reply["error"];
    event_({{"type", "media_download_failed"},
            {"id", f->id},
            {"chat", f->chat},
            {"code", e.is_object() ? e.value("code", "") : ""},
            {"message", e.is_object() ? e.value("message", "") : ""}});
  }
}

}  // namespace wa::connection
