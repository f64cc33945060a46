// Loading the rule file at start and on SIGUSR1: a file that fails `check`
// is never loaded; on reload the old rules stay in force.
#pragma once

#include "filter/log.h"
#include "filter/metrics.h"
#include "filter/rules_holder.h"
#include "rules/rule_set.h"

#include <memory>
#include <string>
#include <vector>

namespace quotamilter::filter {

struct RulesLoad {
    std::shared_ptr<const rules::RuleSet> rules;  // null when the file failed
    std::vector<std::string> errors;              // "FILE:LINE:COL: message", one per problem
};

// `monitor_all`: the global monitor switch (config `monitor`, `--monitor`):
// every policy counts and logs "would ..." but never refuses.
RulesLoad load_rules(const std::string& path, bool monitor_all = false);

// Loads `path` and swaps it in; on failure logs every error and keeps the
// rules in force. Returns whether the new rules were applied.
bool reload_rules(RulesHolder& holder, const std::string& path, Logger& logger, Metrics* metrics = nullptr,
                  bool monitor_all = false);

// "N policies, M quotas" for log lines.
std::string describe_rules(const rules::RuleSet& rules);

}  // namespace quotamilter::filter
