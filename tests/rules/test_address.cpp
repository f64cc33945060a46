// Address normalisation, table-driven, including the hard cases (quoted local
// parts, source routes, nested brackets, BATV, IDN, hostile input).
#include "rules/address.h"

#include <doctest/doctest.h>

#include <string>

using quotamilter::rules::normalize_address;

namespace {

struct Case {
    const char* raw;
    const char* expected;
};

// Expected values are the normalised str() forms.
constexpr Case kCases[] = {
    // plain, brackets, blanks, case
    {"user@example.com", "user@example.com"},
    {"<user@example.com>", "user@example.com"},
    {"  <User@Example.COM>  ", "user@example.com"},
    {"\t<USER@EXAMPLE.COM>", "user@example.com"},
    {"Some Name <user@example.com>", "user@example.com"},
    {"<user@example.com> SIZE=1000", "user@example.com"},
    // the null sender
    {"<>", "<>"},
    {"", "<>"},
    {"< >", "<>"},
    {"   ", "<>"},
    {"<<>>", "<>"},
    // subaddress
    {"<user+tag@example.com>", "user@example.com"},
    {"<User1+promo@HUDEDU.NET>", "user1@hudedu.net"},
    {"user+a+b@example.com", "user@example.com"},
    {"+tag@example.com", "+tag@example.com"},          // no local part would remain
    {"user+@example.com", "user@example.com"},
    {"user\\+tag@example.com", "user@example.com"},     // escaped '+' is still a '+'
    // quoted local parts
    {"<\"a b\"@example.com>", "a b@example.com"},
    {"\"User+Tag\"@Example.com", "user@example.com"},
    {"\"user\"@example.com", "user@example.com"},
    {"\"a\\\"b\"@example.com", "a\"b@example.com"},
    {"<\"a@b\"@example.com>", "a@b@example.com"},         // '@' inside quotes is not the separator
    {"<\"a>b\"@example.com>", "a>b@example.com"},         // '>' inside quotes does not close
    {"<\"a<b\"@example.com>", "a<b@example.com"},
    {"<\"user1@hudedu.net\">", "user1@hudedu.net"},        // wholly quoted: still that address
    {"<\"User1+x@HUDEDU.NET\">", "user1@hudedu.net"},
    {"<\"a@b\"@example.com>", "a@b@example.com"},
    {"<user @example.com>", "user@example.com"},
    {"< user@example.com >", "user@example.com"},
    // source routes (RFC 5321 A-d-l: accepted, ignored)
    {"<@a.example,@b.example:user@host.example>", "user@host.example"},
    {"<@relay.example:User@Host.Example>", "user@host.example"},
    // trailing dot(s) on the domain
    {"<user@example.com.>", "user@example.com"},
    {"user@example.com..", "user@example.com"},
    // nested brackets (Postfix's tokenizer accepts them)
    {"<<user@example.com>>", "user@example.com"},
    {"<<<User@Example.com>>>", "user@example.com"},
    // unterminated bracket: best effort
    {"<user@example.com", "user@example.com"},
    // BATV: stripped so that tags cannot dodge a counter
    {"prvs=0123456789=user@example.com", "user@example.com"},
    {"<PRVS=1234ABCDEF=User+x@Example.com>", "user@example.com"},
    {"msprvs1=17abc01234=bounce@example.com", "bounce@example.com"},
    {"prvs=user=0123456789@example.com", "user@example.com"},       // older prvs=user=TAG form
    {"prvs=notatag=user@example.com", "prvs=notatag=user@example.com"},
    {"prvs=0123456789=@example.com", "prvs=0123456789=@example.com"},  // nothing after the tag: kept
    // SRS is the forwarder's own address: kept
    {"SRS0=HHH=TT=orig.example=user@fwd.example", "srs0=hhh=tt=orig.example=user@fwd.example"},
    // domain literals
    {"user@[192.0.2.1]", "user@[192.0.2.1]"},
    {"user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]"},
    // no domain
    {"postmaster", "postmaster"},
    {"<Postmaster>", "postmaster"},
    // SMTPUTF8 / IDN: ASCII is lower-cased, UTF-8 kept as sent, no A-label conversion
    {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg@b\xc3\xbc" "cher.example"},
    {"J\xc3\x96RG@B\xc3\x9c" "CHER.Example", "j\xc3\x96rg@b\xc3\x9c" "cher.example"},
    {"User@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"},
    // percent hack and other oddities stay as they are
    {"user%host@relay.example", "user%host@relay.example"},
};

}  // namespace

TEST_CASE("normalize_address: table") {
    for (const Case& c : kCases) {
        CAPTURE(c.raw);
        CHECK(normalize_address(c.raw).str() == c.expected);
    }
}

TEST_CASE("normalize_address: parts and null sender") {
    auto address = normalize_address("<User+x@Example.COM.>");
    CHECK(address.local == "user");
    CHECK(address.domain == "example.com");
    CHECK_FALSE(address.null_sender);

    auto null_sender = normalize_address("<>");
    CHECK(null_sender.null_sender);
    CHECK(null_sender.local.empty());
    CHECK(null_sender.domain.empty());
    CHECK(null_sender.str() == "<>");

    auto quoted_whole = normalize_address("<\"User1@HUDEDU.net\">");
    CHECK(quoted_whole.local == "user1");
    CHECK(quoted_whole.domain == "hudedu.net");

    auto bare = normalize_address("postmaster");
    CHECK(bare.local == "postmaster");
    CHECK(bare.domain.empty());
}

TEST_CASE("normalize_address: U-label and A-label forms stay distinct (documented choice)") {
    CHECK(normalize_address("u@b\xc3\xbc" "cher.example").str() != normalize_address("u@xn--bcher-kva.example").str());
}

TEST_CASE("normalize_address: hostile input is bounded and never throws") {
    std::string deep(5000, '<');
    deep += "a@b";
    deep += std::string(5000, '>');
    CHECK_NOTHROW(normalize_address(deep));
    std::string quotes(10000, '"');
    CHECK_NOTHROW(normalize_address(quotes));
    std::string backslashes(10001, '\\');
    CHECK_NOTHROW(normalize_address(backslashes));
    CHECK_NOTHROW(normalize_address(std::string("\0a@b\0", 5)));
    CHECK(normalize_address(std::string(100000, '@')).str().size() <= 100000);
}

TEST_CASE("normalize_address: nested BATV tags cannot vary the key") {
    CHECK(normalize_address("prvs=0123456789=prvs=abcdef0123=user@example.com").str() == "user@example.com");
    CHECK(normalize_address("prvs=0123456789=msprvs1=abcdef0123=User+x@example.com").str() == "user@example.com");
}

TEST_CASE("normalize_address: idempotent on well-formed addresses (random, bounded)") {
    // local@domain with tokens that exercise case, subaddress, BATV and dots:
    // normalising the normalised form changes nothing, brackets change nothing.
    static const char* kLocalTokens[] = {"a", "B", "+", "=", ".", "prvs=", "0123456789=", "x", "-", "PRVS=", "msprvs1="};
    static const char* kDomainTokens[] = {"a", "B", "-", ".", "xn--", "9"};
    std::uint32_t state = 7;
    auto next = [&state] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    for (int round = 0; round < 5000; ++round) {
        std::string local, domain = "d";
        for (int i = static_cast<int>(next() % 10); i > 0; --i) local += kLocalTokens[next() % (sizeof kLocalTokens / sizeof kLocalTokens[0])];
        for (int i = static_cast<int>(next() % 6); i > 0; --i) domain += kDomainTokens[next() % (sizeof kDomainTokens / sizeof kDomainTokens[0])];
        const std::string raw = local + "@" + domain;
        const std::string once = normalize_address(raw).str();
        CAPTURE(raw);
        CHECK(normalize_address(once).str() == once);
        CHECK(normalize_address("<" + raw + ">").str() == once);
        CHECK(normalize_address(" <" + raw + "> ").str() == once);
    }
}
