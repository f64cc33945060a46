#include "rules/units.h"

#include <doctest/doctest.h>

using namespace quotamilter::rules;
using std::chrono::seconds;

TEST_CASE("parse_duration") {
    CHECK(parse_duration("90s") == seconds(90));
    CHECK(parse_duration("30m") == seconds(1800));
    CHECK(parse_duration("1h") == seconds(3600));
    CHECK(parse_duration("1d") == seconds(86400));
    CHECK(parse_duration("1w") == seconds(604800));
    CHECK(parse_duration("1800s") == seconds(1800));
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("h"));
    CHECK_FALSE(parse_duration("10"));       // integer seconds are JSON numbers, not strings
    CHECK_FALSE(parse_duration("1 h"));
    CHECK_FALSE(parse_duration("1H"));
    CHECK_FALSE(parse_duration("1y"));
    CHECK_FALSE(parse_duration("-1h"));
    CHECK_FALSE(parse_duration("1h30m"));
    CHECK_FALSE(parse_duration("99999999999999999999s"));
    CHECK_FALSE(parse_duration("9999999999999999w"));
}

TEST_CASE("parse_size") {
    CHECK(parse_size("42") == 42u);
    CHECK(parse_size("42B") == 42u);
    CHECK(parse_size("10KB") == 10000u);
    CHECK(parse_size("10kb") == 10000u);
    CHECK(parse_size("500MB") == 500000000u);
    CHECK(parse_size("1GiB") == 1073741824u);
    CHECK(parse_size("10 MiB") == 10485760u);
    CHECK(parse_size("2TB") == 2000000000000u);
    CHECK_FALSE(parse_size(""));
    CHECK_FALSE(parse_size("MB"));
    CHECK_FALSE(parse_size("10XB"));
    CHECK_FALSE(parse_size("1.5MB"));
    CHECK_FALSE(parse_size("-1"));
    CHECK_FALSE(parse_size("99999999999TiB"));
}

TEST_CASE("format_duration: most readable exact form") {
    CHECK(format_duration(seconds(90)) == "90s");
    CHECK(format_duration(seconds(1800)) == "30m");
    CHECK(format_duration(seconds(3600)) == "1h");
    CHECK(format_duration(seconds(5400)) == "90m");
    CHECK(format_duration(seconds(86400)) == "1d");
    CHECK(format_duration(seconds(2 * 86400)) == "2d");
    CHECK(format_duration(seconds(604800)) == "1w");
    CHECK(format_duration(seconds(31 * 86400)) == "31d");
    CHECK(format_duration(seconds(1)) == "1s");
    CHECK(format_duration(seconds(0)) == "0s");
    CHECK(format_duration(seconds(-5)) == "0s");
    CHECK(format_duration(seconds(3601)) == "3601s");
    // round trip for every exact form
    for (long s : {1L, 59L, 60L, 61L, 3600L, 7200L, 86400L, 90000L, 604800L, 2678400L}) {
        CAPTURE(s);
        CHECK(parse_duration(format_duration(seconds(s))) == seconds(s));
    }
}
