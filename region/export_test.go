package region

// SharedBreakers is sharedBreakers, for the tests of package region_test.
var SharedBreakers = sharedBreakers
