"""Samsung Wallet (samsung-android.md §1): card data, the signed and encrypted ``cdata`` token, the AUTH tokens of
its REST calls both ways, and the provider that keeps Samsung's copies of our passes current."""
