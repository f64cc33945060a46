#include "rules/match.h"

namespace quotamilter::rules {
namespace {

const std::string* lookup(const std::unordered_map<std::string, std::string>& map, const std::string& key) {
    auto found = map.find(key);
    return found == map.end() ? nullptr : &found->second;
}

}  // namespace

void ItemSet::add_any(const std::string& origin) {
    if (!any_) any_ = origin;
}
void ItemSet::add_null_sender(const std::string& origin) {
    if (!null_sender_) null_sender_ = origin;
}
void ItemSet::add_address(const Address& address, const std::string& origin) {
    addresses_.emplace(address.str(), origin);
}
void ItemSet::add_domain(const std::string& domain, const std::string& origin) {
    domains_.emplace(domain, origin);
}
void ItemSet::add_subdomains(const std::string& domain, const std::string& origin) {
    parent_domains_.emplace(domain, origin);
}
void ItemSet::add_name(const std::string& name, const std::string& origin) {
    names_.emplace(name, origin);
}
void ItemSet::add_network(const IpNetwork& network, const std::string& origin) {
    auto table = prefixes_.begin();
    for (; table != prefixes_.end(); ++table) {
        if (table->v6 == network.address.v6 && table->prefix == network.prefix) break;
    }
    if (table == prefixes_.end()) {
        // Keep longest prefixes first so the most specific network is reported.
        auto position = prefixes_.begin();
        while (position != prefixes_.end() && position->prefix >= network.prefix) ++position;
        table = prefixes_.insert(position, PrefixTable{network.address.v6, network.prefix, {}});
    }
    table->networks.emplace(std::string(network.address.key()), origin);
}

bool ItemSet::empty() const {
    return !any_ && !null_sender_ && addresses_.empty() && domains_.empty() && parent_domains_.empty() &&
           names_.empty() && prefixes_.empty();
}

const std::string* ItemSet::find_address(const Address& address) const {
    if (any_) return &*any_;
    if (address.null_sender) return null_sender_ ? &*null_sender_ : nullptr;
    if (!addresses_.empty()) {
        if (const std::string* origin = lookup(addresses_, address.str())) return origin;
    }
    if (address.domain.empty()) return nullptr;
    if (const std::string* origin = lookup(domains_, address.domain)) return origin;
    if (!parent_domains_.empty()) {
        // a.b.example.com is in @.b.example.com and in @.example.com, never in @.a.b.example.com.
        for (std::size_t dot = address.domain.find('.'); dot != std::string::npos;
             dot = address.domain.find('.', dot + 1)) {
            if (const std::string* origin = lookup(parent_domains_, address.domain.substr(dot + 1))) return origin;
        }
    }
    return nullptr;
}

const std::string* ItemSet::find_ip(const IpAddress& ip) const {
    if (any_) return &*any_;
    for (const PrefixTable& table : prefixes_) {
        if (table.v6 != ip.v6) continue;
        if (const std::string* origin = lookup(table.networks, std::string(ip.masked(table.prefix).key()))) {
            return origin;
        }
    }
    return nullptr;
}

const std::string* ItemSet::find_name(const std::string& lower_name) const {
    if (any_) return &*any_;
    if (const std::string* origin = lookup(names_, lower_name)) return origin;
    // A SASL name that looks like an address also matches @domain / @.domain items.
    if (const std::size_t at = lower_name.rfind('@'); at != std::string::npos && !domains_.empty()) {
        if (const std::string* origin = lookup(domains_, lower_name.substr(at + 1))) return origin;
    }
    if (const std::size_t at = lower_name.rfind('@'); at != std::string::npos && !parent_domains_.empty()) {
        const std::string domain = lower_name.substr(at + 1);
        for (std::size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
            if (const std::string* origin = lookup(parent_domains_, domain.substr(dot + 1))) return origin;
        }
    }
    return nullptr;
}

namespace {

// Shared logic: "no negated item matches, and no positive item or one matches".
template <typename Subject, typename Find>
ListMatch decide(const MatchList& list, bool explain, Subject subject, Find find) {
    if (!list.present) return {true, ""};
    if (const std::string* negated = find(list.negative)) {
        return {false, explain ? subject() + " is excluded by !" + *negated : std::string()};
    }
    if (!list.has_positive) return {true, explain ? subject() + " is not excluded by " + list.text : std::string()};
    if (const std::string* positive = find(list.positive)) {
        return {true, explain ? subject() + " matched " + *positive : std::string()};
    }
    return {false, explain ? subject() + " is not in " + list.text : std::string()};
}

}  // namespace

ListMatch match_address_list(const MatchList& list, const Address& address, bool explain) {
    return decide(list, explain, [&] { return address.str(); },
                  [&](const ItemSet& set) { return set.find_address(address); });
}

ListMatch match_ip_list(const MatchList& list, const std::optional<IpAddress>& ip, bool explain) {
    if (!list.present) return {true, ""};
    if (!ip) {
        // Unknown client: no item can match it, so only a purely negative list holds.
        if (list.has_positive) return {false, explain ? "client address unknown, so not in " + list.text : std::string()};
        return {true, explain ? "client address unknown, so not excluded by " + list.text : std::string()};
    }
    return decide(list, explain, [&] { return "client " + ip->str(); },
                  [&](const ItemSet& set) { return set.find_ip(*ip); });
}

ListMatch match_sasl_list(const MatchList& list, const std::optional<std::string>& sasl_user, bool explain) {
    if (!list.present) return {true, ""};
    if (!sasl_user) {
        if (list.has_positive) return {false, explain ? "sasl: not authenticated, so not in " + list.text : std::string()};
        return {true, explain ? "sasl: not authenticated, so not excluded by " + list.text : std::string()};
    }
    return decide(list, explain, [&] { return "sasl user " + *sasl_user; },
                  [&](const ItemSet& set) { return set.find_name(*sasl_user); });
}

}  // namespace quotamilter::rules
