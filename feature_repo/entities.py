"""Entities: who and what features describe."""

from feast import Entity, ValueType

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64,
              description="A marketplace user (buyer).")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64,
              description="A listing; sold listings leave the feature tables.")
category = Entity(name="category", join_keys=["category"], value_type=ValueType.STRING,
                  description="An item category, for user x category affinity.")
brand = Entity(name="brand", join_keys=["brand"], value_type=ValueType.STRING,
               description="A brand, for user x brand affinity.")
