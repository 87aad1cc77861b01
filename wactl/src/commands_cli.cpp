#include "commands_cli.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "wa/crypto_random.hpp"

namespace wactl {

using json = nlohmann::json;
using wa::contract::Cli;
using wa::contract::FieldKind;

namespace {

// Help of the parents of two-word paths ("group create").
const std::map<std::string, std::string>& parent_help() {
  static const std::map<std::string, std::string> help{{"group", "create and manage groups"},
                                                       {"picture", "profile pictures: get a URL, set or remove ours"},
                                                       {"presence", "set our presence, subscribe to a contact's"},
                                                       {"about", "about texts: read a contact's, set ours"},
                                                       {"webhook", "webhooks: create, list, delete, pause, resume"}};
  return help;
}

bool is_list(FieldKind k) { return k == FieldKind::people || k == FieldKind::texts; }
bool is_jid(FieldKind k) {
  return k == FieldKind::chat || k == FieldKind::person || k == FieldKind::author || k == FieldKind::people;
}

CLI::App* parent_of(CLI::App& app, std::string_view path, std::string& leaf) {
  size_t space = path.find(' ');
  if (space == std::string_view::npos) {
    leaf = std::string(path);
    return &app;
  }
  std::string parent(path.substr(0, space));
  leaf = std::string(path.substr(space + 1));
  CLI::App* p = nullptr;
  for (auto* sc : app.get_subcommands({}))
    if (sc->get_name() == parent) p = sc;
  if (p == nullptr) {
    auto h = parent_help().find(parent);
    p = app.add_subcommand(parent, h == parent_help().end() ? "" : h->second);
    p->require_subcommand(1);
  }
  return p;
}

}  // namespace

std::vector<std::unique_ptr<RegistryCommand>> add_registry_commands(CLI::App& app) {
  std::vector<std::unique_ptr<RegistryCommand>> out;
  for (const auto& spec : wa::contract::commands()) {
    if (spec.cli.empty()) continue;
    auto c = std::make_unique<RegistryCommand>();
    c->spec = &spec;
    std::string leaf;
    CLI::App* parent = parent_of(app, spec.cli, leaf);
    c->app = parent->add_subcommand(leaf, std::string(spec.summary));
    bool confirm = false;
    for (const auto& f : spec.fields) {
      const std::string name(f.name);
      const std::string help(f.help);
      if (f.cli == Cli::none) continue;
      CLI::Option* opt = nullptr;
      if (f.kind == FieldKind::flag) {
        opt = c->app->add_flag(std::string(f.flag), c->flags[name], help);
        confirm = confirm || f.confirm;
        continue;
      }
      const std::string names = f.cli == Cli::positional ? name : std::string(f.flag);
      if (is_list(f.kind)) {
        opt = c->app->add_option(names, c->lists[name], help);
      } else if (f.kind == FieldKind::count) {
        opt = c->app->add_option(names, c->counts[name], help);
      } else {
        opt = c->app->add_option(names, c->text[name], help);
      }
      if (f.required && f.cli == Cli::positional) opt->required();
      if (f.kind == FieldKind::choice) {
        std::vector<std::string> choices(f.choices.begin(), f.choices.end());
        opt->check(CLI::IsMember(choices));
      }
    }
    if (confirm) c->app->add_flag("--yes", c->yes, "confirm");
    out.push_back(std::move(c));
  }
  return out;
}

wa::Result<json> build_request(const RegistryCommand& c) {
  json req{{"cmd", std::string(c.spec->name)}};
  for (const auto& f : c.spec->fields) {
    const std::string name(f.name);
    if (f.kind == FieldKind::flag) {
      auto it = c.flags.find(name);
      if (it == c.flags.end() || !it->second) continue;
      if (f.confirm && !c.yes)
        return wa::fail("usage", std::string(f.flag) + " (" + std::string(f.help) + ") cannot be undone: add --yes to confirm");
      req[name] = true;
    } else if (is_list(f.kind)) {
      auto it = c.lists.find(name);
      if (it == c.lists.end() || it->second.empty()) continue;
      json list = json::array();
      for (const auto& v : it->second) list.push_back(is_jid(f.kind) ? wa::contract::person_jid(v) : v);
      req[name] = std::move(list);
    } else if (f.kind == FieldKind::count) {
      auto it = c.counts.find(name);
      if (it != c.counts.end() && it->second != 0) req[name] = it->second;
    } else {
      auto it = c.text.find(name);
      if (it == c.text.end() || it->second.empty()) continue;
      if (f.kind == FieldKind::number) {
        const std::string& t = it->second;
        double d = 0;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
        if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(d))
          return wa::fail("usage", std::string(f.name) + " must be a number, not '" + t + "'");
        req[name] = d;
      } else if (f.kind == FieldKind::path) {
        // The supervisor does not share our working directory.
        std::error_code ec;
        auto abs = std::filesystem::absolute(it->second, ec);
        req[name] = ec ? it->second : abs.lexically_normal().string();
      } else {
        req[name] = is_jid(f.kind) ? wa::contract::person_jid(it->second) : it->second;
      }
    }
  }
  // A sending command gets a de-duplication id of its own, so a resend of
  // this request (NNG retries on a dropped connection) never sends twice.
  if (c.spec->sends && !req.contains("client_id")) req["client_id"] = wa::random_hex(16);
  // Rules across fields, as the supervisor checks them, before connecting.
  for (const auto& f : c.spec->fields)
    if (f.required && !req.contains(std::string(f.name)) && f.cli != Cli::none)
      return wa::fail("usage", "missing " + std::string(f.name));
  if (c.spec->check != nullptr) {
    if (auto st = c.spec->check(req); !st) return wa::Unexpected<wa::Error>{st.error()};
  }
  return req;
}

}  // namespace wactl
