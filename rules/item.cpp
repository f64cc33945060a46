#include "rules/item.h"

#include <algorithm>
#include <cctype>

namespace quotamilter::rules {
namespace {

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// Loose check for a domain written in a rule: labels of non-blank,
// non-special bytes separated by single dots (UTF-8 labels are allowed).
bool is_plausible_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > 253 || domain.front() == '.' || domain.front() == '-') return false;
    char previous = 0;
    for (char c : domain) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || c == '@' || c == ',' || c == ';' || c == '<' || c == '>' || c == '"' || c == '%' ||
            c == '!' || c == '*' || c == '/' || c == '\\' || c == '(' || c == ')' || c == ':') {
            return false;
        }
        if (c == '.' && previous == '.') return false;
        previous = c;
    }
    return true;
}

// An attempt at an IP address or CIDR (no '@' here): anything with ':' or
// '/', or digits and dots only. Such items are reported as bad addresses,
// not as bare names.
bool looks_like_ip(std::string_view text) {
    if (text.find(':') != std::string_view::npos || text.find('/') != std::string_view::npos) return true;
    return std::all_of(text.begin(), text.end(), [](char c) { return c == '.' || std::isdigit(static_cast<unsigned char>(c)); });
}

}  // namespace

bool is_valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
    }
    return true;
}

std::string_view kind_name(Item::Kind kind) {
    switch (kind) {
        case Item::Kind::any: return "*";
        case Item::Kind::null_sender: return "the null sender <>";
        case Item::Kind::address: return "an address";
        case Item::Kind::domain: return "a domain";
        case Item::Kind::subdomains: return "a subdomain pattern";
        case Item::Kind::network: return "a client address or network";
        case Item::Kind::name: return "a bare name";
        case Item::Kind::group: return "a group";
    }
    return "an item";
}

namespace {

// "@example.com" (a domain) or "@.example.com" (its subdomains); `prefix` is "@" or "@.".
bool classify_domain(std::string_view text, std::size_t prefix, Item& item, std::string& error) {
    const bool subdomains = prefix == 2;
    item.kind = subdomains ? Item::Kind::subdomains : Item::Kind::domain;
    item.domain = lower_ascii(text.substr(prefix));
    while (!item.domain.empty() && item.domain.back() == '.') item.domain.pop_back();
    if (is_plausible_domain(item.domain)) return true;
    error = "invalid domain in \"" + std::string(text) + "\" (expected " +
            (subdomains ? "@.example.com)" : "@example.com)");
    return false;
}

bool classify_network(std::string_view text, Item& item, std::string& error) {
    CidrError why = CidrError::none;
    auto network = parse_cidr(text, &why);
    if (network) {
        item.kind = Item::Kind::network;
        item.network = *network;
        return true;
    }
    switch (why) {
        case CidrError::prefix_out_of_range:
            error = "prefix length out of range in \"" + std::string(text) +
                    "\" (expected /0../32 for IPv4, /0../128 for IPv6)";
            break;
        case CidrError::host_bits_set: {
            const std::size_t slash = text.find('/');
            auto address = parse_ip(text.substr(0, slash));
            const int prefix = std::stoi(std::string(text.substr(slash + 1)));
            error = "\"" + std::string(text) + "\" has host bits set (did you mean " +
                    IpNetwork{address->masked(prefix), prefix}.str() + "?)";
            break;
        }
        default:
            error = "invalid IP address or CIDR \"" + std::string(text) +
                    "\" (expected 192.0.2.7, 192.0.2.0/24 or 2001:db8::/32)";
    }
    return false;
}

bool classify_name(std::string_view text, Item& item, std::string& error) {
    item.kind = Item::Kind::name;
    item.name = lower_ascii(text);
    for (char c : text) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || c == '<' || c == '>' || c == '"' || c == ',' || c == '%' || c == '!') {
            error = "invalid item \"" + std::string(text) + "\"";
            return false;
        }
    }
    return true;
}

// The item's form once "!" is taken off.
bool classify_form(std::string_view text, Item& item, std::string& error) {
    if (text == "*") {
        item.kind = Item::Kind::any;
        return true;
    }
    if (text == "<>") {
        item.kind = Item::Kind::null_sender;
        return true;
    }
    if (text.front() == '%') {
        item.kind = Item::Kind::group;
        item.name = std::string(text.substr(1));
        if (is_valid_name(item.name)) return true;
        error = "invalid group reference \"" + std::string(text) + "\" (expected %NAME, NAME of [A-Za-z0-9_.-])";
        return false;
    }
    if (text.size() >= 2 && text.substr(0, 2) == "@.") return classify_domain(text, 2, item, error);
    if (text.front() == '@') return classify_domain(text, 1, item, error);
    if (text.find('@') != std::string_view::npos) {
        item.kind = Item::Kind::address;
        item.address = normalize_address(text);
        item.name = lower_ascii(text);
        if (!item.address.null_sender && !item.address.local.empty() && is_plausible_domain(item.address.domain))
            return true;
        error = "invalid address \"" + std::string(text) + "\" (expected user@example.com)";
        return false;
    }
    if (looks_like_ip(text)) return classify_network(text, item, error);
    return classify_name(text, item, error);
}

}  // namespace

bool classify_item(std::string_view text, Item& item, std::string& error) {
    item = Item{};
    if (!text.empty() && text.front() == '!') {
        item.negated = true;
        text.remove_prefix(1);
        if (!text.empty() && text.front() == '!') {
            error = "double negation \"!!\" is not allowed";
            return false;
        }
    }
    item.text = std::string(text);
    if (text.empty()) {
        error = item.negated ? "\"!\" must be followed by an item" : "empty item";
        return false;
    }
    if (text.front() == ' ' || text.back() == ' ' || text.front() == '\t' || text.back() == '\t') {
        error = "item \"" + std::string(text) + "\" has leading or trailing blanks";
        return false;
    }
    return classify_form(text, item, error);
}

}  // namespace quotamilter::rules
