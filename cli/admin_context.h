// What the administrative commands (`status`, `reset`) share: the store and
// rules named by --config/--redis/--rules, and how a KEY typed by an admin
// maps to the tracked values the milter stores.
#pragma once

#include "cli/cli_args.h"
#include "rules/rule_set.h"
#include "store/counter_admin.h"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quotamilter::cli {

struct AdminContext {
    std::unique_ptr<store::CounterAdmin> store;
    std::shared_ptr<const rules::RuleSet> rules;  // null without --rules / config rules
};

// Options every admin command takes.
std::set<std::string> admin_value_options();

// Opens the store (and the rules when named). The rules come from --rules, or
// from --config's `rules` key; a rules file that fails `check` is an error
// when named by --rules, and ignored (limits unknown) when it only comes from
// the config. Throws std::runtime_error with a one-line message.
AdminContext open_admin_context(const ParsedArgs& args);

// The tracked values an admin's KEY can stand for: "User1+x@HUDEDU.NET" is
// "user1@hudedu.net"; "@hudedu.net" or "hudedu.net" is a domain; an IP is
// itself and, with rules, every network a client_net quota groups it into.
std::vector<std::string> tracked_value_candidates(const std::string& key, const rules::RuleSet* rules);

// The quota of `rules` a counter belongs to, if the rules still have it.
const rules::Quota* quota_of(const rules::RuleSet& rules, const store::CounterId& counter);

}  // namespace quotamilter::cli
