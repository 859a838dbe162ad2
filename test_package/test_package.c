/* Smallest use of the C ABI: the library loads and answers. */
#include <stdio.h>

#include "allezon/c.h"

int main(void) {
  char* err = NULL;
  allezon_db_t* db = allezon_open(NULL, &err); /* an error path: no directory */
  const int ok = db == NULL && allezon_error_code(err) == ALLEZON_INVALID_ARGUMENT;
  allezon_free(err);
  printf("allezon_c %s: %s\n", allezon_version(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
