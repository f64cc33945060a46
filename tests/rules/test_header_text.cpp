// Header decoding for content rules: unfolding, RFC 2047 encoded words (B and
// Q; UTF-8, ISO-8859-1, Windows-1252, ISO-8859-15), malformed input, caps,
// and the value a header:NAME quota tracks.
#include "rules/header_text.h"

#include <doctest/doctest.h>

#include <string>

using namespace quotamilter::rules;

TEST_CASE("header text: unfolding removes line breaks, keeps the blank after them, trims") {
    CHECK(unfold_header_value("  a\r\n\tb\n c\r d  ") == "a\tb c d");
    CHECK(unfold_header_value("") == "");
    CHECK(unfold_header_value("\r\n\r\n") == "");
    CHECK(decode_header_value("Hello\r\n world") == "Hello world");
}

TEST_CASE("header text: Q encoded words") {
    CHECK(decode_encoded_words("=?UTF-8?Q?Caf=C3=A9_au_lait?=") == "Café au lait");
    CHECK(decode_encoded_words("=?utf-8?q?a=3Fb?=") == "a?b");
    CHECK(decode_encoded_words("=?ISO-8859-1?Q?Gr=FC=DFe?=") == "Grüße");
    CHECK(decode_encoded_words("=?iso-8859-1?q?=E9?= x") == "é x");
    CHECK(decode_encoded_words("=?windows-1252?Q?=80_=93quoted=94?=") == "€ “quoted”");
    CHECK(decode_encoded_words("=?ISO-8859-15?Q?=A4?=") == "€");
    CHECK(decode_encoded_words("=?us-ascii?Q?plain?=") == "plain");
    CHECK(decode_encoded_words("=?UTF-8*en?Q?lang?=") == "lang");  // RFC 2231 language
    // a stray '=' stays as written
    CHECK(decode_encoded_words("=?UTF-8?Q?a=ZZb=?=") == "a=ZZb=");
}

TEST_CASE("header text: B encoded words") {
    CHECK(decode_encoded_words("=?UTF-8?B?w6lsw6h2ZQ==?=") == "élève");
    CHECK(decode_encoded_words("=?utf-8?b?w6lsw6h2ZQ?=") == "élève");  // padding missing
    CHECK(decode_encoded_words("=?ISO-8859-1?B?6Q==?=") == "é");
    CHECK(decode_encoded_words("Subject =?UTF-8?B?aGVsbG8=?= tail") == "Subject hello tail");
}

TEST_CASE("header text: blanks between adjacent encoded words go, others stay") {
    CHECK(decode_encoded_words("=?UTF-8?Q?a?= =?UTF-8?Q?b?=") == "ab");
    CHECK(decode_encoded_words("=?UTF-8?Q?a?=\t  =?UTF-8?Q?b?=") == "ab");
    CHECK(decode_encoded_words("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=") == "a x b");
    CHECK(decode_encoded_words("x =?UTF-8?Q?a?=") == "x a");
    CHECK(decode_header_value("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=") == "ab");  // folded between words
}

TEST_CASE("header text: malformed or unknown encoded words stay as written") {
    for (const char* text : {"=?UTF-8?X?abc?=", "=?UTF-8?Q?abc", "=??Q?abc?=", "=?UTF-8?B?***?=", "=?koi8-r?Q?abc?=",
                             "=?UTF-8?Q?a b?=", "=?", "=?UTF-8", "=?UTF-8?", "=?UTF-8?Q", "=?UTF-8?Q?", "?=", "=?=?=?"}) {
        CAPTURE(text);
        CHECK(decode_encoded_words(text) == text);
    }
    // decoded line breaks and NULs become spaces: a value is one line
    CHECK(decode_encoded_words("=?UTF-8?Q?a=0D=0Ab=00c?=") == "a  b c");
    // an overlong word is not decoded (bounded work per attempt)
    const std::string long_word = "=?UTF-8?Q?" + std::string(300, 'a') + "?=";
    CHECK(decode_encoded_words(long_word) == long_word);
}

TEST_CASE("header text: values are capped at 64 KiB on a character boundary") {
    const std::string big(200 * 1024, 'x');
    CHECK(decode_header_value(big).size() == kMaxHeaderValueBytes);
    std::string accents;
    for (int i = 0; i < 40000; ++i) accents += "é";  // 2 bytes each
    const std::string cut = decode_header_value(accents, 5);
    CHECK(cut == "éé");
    CHECK(decode_header_value("abc", 0) == "");
}

TEST_CASE("header text: names") {
    CHECK(is_valid_header_name("From"));
    CHECK(is_valid_header_name("X-Quota-Policy"));
    CHECK(is_valid_header_name("List-Unsubscribe"));
    CHECK_FALSE(is_valid_header_name(""));
    CHECK_FALSE(is_valid_header_name("From:"));
    CHECK_FALSE(is_valid_header_name("Bad Name"));
    CHECK_FALSE(is_valid_header_name("Caf\xc3\xa9"));
    CHECK_FALSE(is_valid_header_name(std::string(129, 'a')));
    CHECK(lower_ascii("X-Quota-POLICY") == "x-quota-policy");
}

TEST_CASE("header text: the value a header:NAME quota tracks") {
    CHECK(header_tracked_value("Alice <Alice+news@Example.ORG>") == "alice@example.org");
    CHECK(header_tracked_value("alice@example.org") == "alice@example.org");
    CHECK(header_tracked_value("alice@example.org (Alice)") == "alice@example.org");
    // a fake address in the display name does not win over the real one
    CHECK(header_tracked_value("\"Bob <bob@evil.example>\" <real@example.org>") == "real@example.org");
    CHECK(header_tracked_value("\"=?x?=\" <a@b.example>, c@d.example") == "a@b.example");
    // no address: lower case, blanks collapsed
    CHECK(header_tracked_value("  Some   Value\tHere ") == "some value here");
    CHECK(header_tracked_value("") == "");
    CHECK(header_tracked_value("<>") == "<>");
    CHECK(header_tracked_value(std::string(1000, 'A')).size() == 320);
}
