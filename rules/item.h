// One entry of a match list or group, as written ("user@x", "@.x", "%g",
// "!192.0.2.0/24"), classified once at load time.
#pragma once

#include "rules/address.h"
#include "rules/ip.h"

#include <string>
#include <string_view>

namespace quotamilter::rules {

struct Item {
    enum class Kind { any, null_sender, address, domain, subdomains, network, name, group };
    Kind kind = Kind::any;
    bool negated = false;
    std::string text;        // as written, without the '!'
    Address address;         // Kind::address (normalised)
    std::string domain;      // Kind::domain / subdomains (lower case, no trailing dot)
    IpNetwork network;       // Kind::network
    std::string name;        // Kind::name (lower case) / Kind::group (group name)
};

// Classifies `text`. On failure returns false and sets `error` to a message
// saying what was expected. Bare words (no '@', not an IP) are Kind::name:
// valid only in `sasl` lists; the caller decides.
bool classify_item(std::string_view text, Item& item, std::string& error);

std::string_view kind_name(Item::Kind kind);  // "an address", "a client network", ...

bool is_valid_name(std::string_view name);     // policy and group names: [A-Za-z0-9_.-]{1,64}

}  // namespace quotamilter::rules
