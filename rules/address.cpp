// Address normalisation. What we do, and why:
// - Angle brackets, surrounding blanks and RFC 5321 source routes
//   (<@a,@b:user@host>) are removed: only the mailbox counts.
// - Quoted local parts are unquoted ("a b"@x -> a b@x, "user"@x -> user@x,
//   backslash escapes resolved), like Postfix's internal form, so that quoting
//   cannot dodge a quota; a wholly quoted "user@x" is user@x. Blanks around
//   the local part are dropped. The result is a key, not a re-sendable address.
// - ASCII letters are lower-cased in local part and domain; non-ASCII bytes
//   (SMTPUTF8 local parts, U-labels) are kept exactly as sent. We do not
//   convert between U-labels and xn-- A-labels: that needs IDNA tables
//   (libidn2), and Postfix itself hands us the domain as the client sent it.
//   An admin who wants both spellings lists both (@bücher.example and
//   @xn--bcher-kva.example).
// - A trailing dot on the domain is removed (example.com. == example.com).
// - BATV (prvs=TAG=user, and the older prvs=user=TAG and msprvs1=TAG=user)
//   is stripped, so bounce-address tagging cannot give every message its own
//   counter. SRS addresses are kept: they are the forwarder's own address.
// - The subaddress (from the first '+' of the local part) is removed, unless
//   the '+' is the first character (the local part would be empty).
#include "rules/address.h"

#include <cctype>

namespace quotamilter::rules {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

void lower_ascii_in_place(std::string& text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
}

// Index of the first `wanted` outside double quotes (backslash escapes honoured), or npos.
std::size_t find_unquoted(std::string_view text, char wanted, std::size_t from = 0) {
    bool quoted = false;
    for (std::size_t i = from; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\') { ++i; continue; }
        if (c == '"') { quoted = !quoted; continue; }
        if (!quoted && c == wanted) return i;
    }
    return std::string_view::npos;
}

// Index of the '>' closing the '<' at `open`, honouring quotes, escapes and
// nested brackets; npos when unterminated.
std::size_t find_matching_bracket(std::string_view text, std::size_t open) {
    bool quoted = false;
    int depth = 0;
    for (std::size_t i = open; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\') { ++i; continue; }
        if (c == '"') { quoted = !quoted; continue; }
        if (quoted) continue;
        if (c == '<') ++depth;
        if (c == '>' && --depth == 0) return i;
    }
    return std::string_view::npos;
}

std::size_t rfind_unquoted(std::string_view text, char wanted) {
    std::size_t found = std::string_view::npos;
    for (std::size_t at = find_unquoted(text, wanted); at != std::string_view::npos;
         at = find_unquoted(text, wanted, at + 1)) {
        found = at;
    }
    return found;
}

std::string unquote(std::string_view local) {
    std::string out;
    out.reserve(local.size());
    for (std::size_t i = 0; i < local.size(); ++i) {
        const char c = local[i];
        if (c == '"') continue;
        if (c == '\\' && i + 1 < local.size()) {
            out.push_back(local[++i]);
            continue;
        }
        out.push_back(c);
    }
    return out;
}

bool is_batv_tag(std::string_view tag) {
    // RFC draft: K DDD SSSSSS = 10 characters, digits and hex. Be lenient on
    // length (some signers use longer hashes) but demand hex digits only.
    if (tag.size() < 8 || tag.size() > 64) return false;
    for (char c : tag) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// "prvs=0123456789=user" -> "user"; anything else unchanged. Input is lower case.
std::string strip_batv(std::string local) {
    for (std::string_view scheme : {std::string_view("prvs="), std::string_view("msprvs1=")}) {
        if (local.compare(0, scheme.size(), scheme) != 0) continue;
        const std::string_view rest = std::string_view(local).substr(scheme.size());
        const std::size_t eq = rest.find('=');
        if (eq == std::string_view::npos || eq + 1 >= rest.size()) return local;
        const std::string_view first = rest.substr(0, eq);
        const std::string_view second = rest.substr(eq + 1);
        if (is_batv_tag(first)) return std::string(second);                 // prvs=TAG=user
        const std::size_t last_eq = second.rfind('=');
        if (last_eq == std::string_view::npos && is_batv_tag(second) && !first.empty()) {
            return std::string(first);                                         // prvs=user=TAG (older form)
        }
        return local;
    }
    return local;
}

}  // namespace

std::string Address::str() const {
    if (null_sender) return "<>";
    if (domain.empty()) return local;
    return local + "@" + domain;
}

Address normalize_address(std::string_view raw) {
    std::string_view text = trim(raw);

    // The mailbox between angle brackets, if any ("Name <a@b>" style too).
    // Like Postfix's smtpd tokenizer, brackets may nest (<<a@b>>) and a quoted
    // string may hold '<' or '>' ("a>b"@x); each round removes one level.
    for (int level = 0; level < 64; ++level) {  // bounded: hostile nesting stays cheap
        const std::size_t open = find_unquoted(text, '<');
        if (open == std::string_view::npos) break;
        const std::size_t close = find_matching_bracket(text, open);
        text = trim(text.substr(open + 1, close == std::string_view::npos ? std::string_view::npos : close - open - 1));
    }

    // Source route: "@a,@b:user@host" -> "user@host".
    if (!text.empty() && text.front() == '@') {
        if (const std::size_t colon = find_unquoted(text, ':'); colon != std::string_view::npos) {
            text = trim(text.substr(colon + 1));
        }
    }

    Address address;
    if (text.empty()) {
        address.null_sender = true;
        return address;
    }

    const std::size_t at = rfind_unquoted(text, '@');
    std::string local = unquote(at == std::string_view::npos ? text : text.substr(0, at));
    std::string domain(at == std::string_view::npos ? std::string_view() : trim(text.substr(at + 1)));
    if (at == std::string_view::npos) {
        // A wholly quoted address ("user@example.com" in quotes) is that
        // address: quoting must not hide the domain from @domain items.
        if (const std::size_t inner_at = local.rfind('@'); inner_at != std::string::npos) {
            domain = std::string(trim(std::string_view(local).substr(inner_at + 1)));
            local.resize(inner_at);
        }
    }
    local = std::string(trim(local));  // "user @example.com" is user@example.com

    lower_ascii_in_place(local);
    // Repeat: nested tags (prvs=T1=prvs=T2=user) must not give each message its own key.
    for (std::string stripped = strip_batv(local); stripped != local; stripped = strip_batv(local)) local = std::move(stripped);
    if (const std::size_t plus = local.find('+'); plus != std::string::npos && plus > 0) local.resize(plus);

    lower_ascii_in_place(domain);
    while (!domain.empty() && domain.back() == '.') domain.pop_back();

    if (local.empty() && domain.empty()) {
        address.null_sender = true;
        return address;
    }
    address.local = std::move(local);
    address.domain = std::move(domain);
    return address;
}

}  // namespace quotamilter::rules
