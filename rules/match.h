// Compiled match lists: built once when rules are loaded, so that matching a
// message is a few hash lookups (no regex, no re-normalising of items).
#pragma once

#include "rules/address.h"
#include "rules/header_match.h"
#include "rules/ip.h"

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace quotamilter::rules {

// Every item a list can hold, after group expansion. Each entry remembers the
// item as written in the policy (`origin`: "%internal_domains", "user1@x"),
// so explain can say which item matched.
class ItemSet {
public:
    void add_any(const std::string& origin);
    void add_null_sender(const std::string& origin);
    void add_address(const Address& address, const std::string& origin);   // user@domain
    void add_domain(const std::string& domain, const std::string& origin);  // @domain
    void add_subdomains(const std::string& domain, const std::string& origin);  // @.domain
    void add_network(const IpNetwork& network, const std::string& origin);
    void add_name(const std::string& name, const std::string& origin);      // sasl user name, exact

    bool empty() const;

    // The origin of the first entry that matches, or nullptr.
    const std::string* find_address(const Address& address) const;
    const std::string* find_ip(const IpAddress& ip) const;
    const std::string* find_name(const std::string& lower_name) const;

private:
    std::optional<std::string> any_;
    std::optional<std::string> null_sender_;
    std::unordered_map<std::string, std::string> addresses_;
    std::unordered_map<std::string, std::string> domains_;
    std::unordered_map<std::string, std::string> parent_domains_;
    std::unordered_map<std::string, std::string> names_;
    // One hash map per prefix length, longest first: a lookup masks the
    // client address once per distinct prefix length.
    struct PrefixTable {
        bool v6 = false;
        int prefix = 0;
        std::unordered_map<std::string, std::string> networks;  // masked bytes -> origin
    };
    std::vector<PrefixTable> prefixes_;
};

// A list as written in a policy's match: positive and negated items.
struct MatchList {
    bool present = false;     // absent lists match anything
    bool has_positive = false;
    ItemSet positive;
    ItemSet negative;
    std::string text;         // the list as written, for explain: "[%internal_domains, !x@y]"
};

// The outcome of matching one list, with a short reason for explain.
struct ListMatch {
    bool matched = false;
    std::string reason;
};

// With `explain` false the reason stays empty (no string building: the hot path).
ListMatch match_address_list(const MatchList& list, const Address& address, bool explain = true);
ListMatch match_ip_list(const MatchList& list, const std::optional<IpAddress>& ip, bool explain = true);
ListMatch match_sasl_list(const MatchList& list, const std::optional<std::string>& sasl_user, bool explain = true);

class PolicyMatch {
public:
    MatchList sender;
    MatchList recipient;
    MatchList client;
    MatchList sasl;
    std::vector<HeaderCondition> headers;  // all must hold; decided at end of headers
};

}  // namespace quotamilter::rules
