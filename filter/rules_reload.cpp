#include "filter/rules_reload.h"

#include "rules/load.h"

#include <fmt/format.h>

#include <exception>
#include <variant>

namespace quotamilter::filter {

RulesLoad load_rules(const std::string& path, bool monitor_all) {
    RulesLoad result;
    try {
        rules::LoadResult loaded = rules::load_rules_file(path);
        if (auto* rule_set = std::get_if<rules::RuleSet>(&loaded)) {
            if (monitor_all)
                for (auto& policy : rule_set->policies) policy.mode = rules::Mode::monitor;
            result.rules = std::make_shared<const rules::RuleSet>(std::move(*rule_set));
        } else {
            for (const auto& diagnostic : std::get<std::vector<rules::Diagnostic>>(loaded))
                result.errors.push_back(diagnostic.str());
            if (result.errors.empty()) result.errors.push_back(fmt::format("{}: cannot be loaded", path));
        }
    } catch (const std::exception& e) {
        result.errors.push_back(fmt::format("{}: {}", path, e.what()));
    }
    return result;
}

std::string describe_rules(const rules::RuleSet& rules) {
    std::size_t quotas = 0;
    for (const auto& policy : rules.policies) quotas += policy.quotas.size();
    return fmt::format("{} policies, {} quotas{}", rules.policies.size(), quotas,
                       rules.needs_body() ? ", byte quotas (body inspected)" : "");
}

bool reload_rules(RulesHolder& holder, const std::string& path, Logger& logger, Metrics* metrics,
                  bool monitor_all) {
    RulesLoad loaded = load_rules(path, monitor_all);
    if (metrics) metrics->rules_loaded(loaded.rules != nullptr);
    if (!loaded.rules) {
        for (const auto& error : loaded.errors) logger.error(fmt::format("reload: {}", error));
        logger.error(fmt::format("reload: {} not loaded ({} errors); the rules in force stay", path,
                                 loaded.errors.size()));
        return false;
    }
    const bool body_before = [&] {
        auto current = holder.current();
        return current && current->needs_body();
    }();
    const std::string summary = describe_rules(*loaded.rules);
    const bool body_after = loaded.rules->needs_body();
    holder.replace(std::move(loaded.rules));
    logger.info(fmt::format("reload: rules from {} in force: {}{}{}", path, summary,
                            monitor_all ? ", all in monitor mode (global switch)" : "",
                            body_after && !body_before ? " (byte counting starts with new connections)" : ""));
    return true;
}

}  // namespace quotamilter::filter
