#include "cli/admin_context.h"

#include "cli/serve_config.h"
#include "rules/address.h"
#include "rules/ip.h"
#include "rules/load.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace quotamilter::cli {

std::set<std::string> admin_value_options() { return {"config", "redis", "rules", "key-prefix", "store-timeout-ms"}; }

namespace {

std::shared_ptr<const rules::RuleSet> load_rules_or_throw(const std::string& path) {
    auto loaded = rules::load_rules_file(path);
    if (auto* errors = std::get_if<std::vector<rules::Diagnostic>>(&loaded)) {
        std::string message = path + " fails check";
        if (!errors->empty()) message += ": " + errors->front().str();
        throw std::runtime_error(message);
    }
    return std::make_shared<const rules::RuleSet>(std::move(std::get<rules::RuleSet>(loaded)));
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

}  // namespace

AdminContext open_admin_context(const ParsedArgs& args) {
    ServeConfig config;
    if (auto file = args.value("config")) config = load_serve_config(*file);

    store::StoreOptions options;
    options.url = args.value("redis").value_or(config.redis);
    options.key_prefix = args.value("key-prefix").value_or(config.key_prefix);
    options.timeout = config.store_timeout;
    if (auto ms = args.value("store-timeout-ms")) {
        try {
            options.timeout = std::chrono::milliseconds(std::stol(*ms));
        } catch (const std::exception&) {
            throw UsageError("--store-timeout-ms needs a number of milliseconds");
        }
    }
    options.pool_size = 1;

    AdminContext context;
    if (auto path = args.value("rules")) {
        context.rules = load_rules_or_throw(*path);
    } else if (args.value("config")) {
        try {
            context.rules = load_rules_or_throw(config.rules);
        } catch (const std::exception&) {
            context.rules = nullptr;  // limits shown as unknown
        }
    }
    try {
        context.store = store::open_counter_admin(options);
    } catch (const std::exception& e) {
        throw std::runtime_error("--redis " + options.url + ": " + e.what());
    }
    return context;
}

std::vector<std::string> tracked_value_candidates(const std::string& key, const rules::RuleSet* rules) {
    std::vector<std::string> candidates;
    auto add = [&](std::string value) {
        if (!value.empty() && std::find(candidates.begin(), candidates.end(), value) == candidates.end())
            candidates.push_back(std::move(value));
    };
    if (auto ip = rules::parse_ip(key)) {
        add(ip->str());
        if (rules) {
            for (const auto& policy : rules->policies)
                for (const auto& quota : policy.quotas)
                    if (quota.track == rules::Track::client_net)
                        add(rules::IpNetwork{ip->masked(ip->v6 ? quota.prefix_v6 : quota.prefix_v4),
                                             ip->v6 ? quota.prefix_v6 : quota.prefix_v4}
                                .str());
        }
        return candidates;
    }
    if (key.find('/') != std::string::npos) {
        if (auto net = rules::parse_cidr(key)) add(net->str());
        return candidates;
    }
    if (key == "<>") {
        add("<>");
        return candidates;
    }
    if (key.size() > 1 && key.front() == '@') {
        add(lower(key.substr(1)));
        return candidates;
    }
    if (key.find('@') != std::string::npos) {
        add(rules::normalize_address(key).str());
        add(lower(key));  // a sasl_user that looks like an address
        return candidates;
    }
    add(lower(key));  // a domain, a SASL user or a policy name (track=policy)
    add(key);
    return candidates;
}

const rules::Quota* quota_of(const rules::RuleSet& rules, const store::CounterId& counter) {
    for (const auto& policy : rules.policies) {
        if (policy.name != counter.policy) continue;
        for (const auto& quota : policy.quotas)
            if (quota.track_label() == counter.track && rules::to_string(quota.unit) == counter.unit &&
                quota.window.count() == static_cast<long>(counter.window_seconds))
                return &quota;
    }
    return nullptr;
}

}  // namespace quotamilter::cli
