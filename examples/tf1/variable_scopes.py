"""Name scopes and variable scopes (TensorFlow 1's guide to sharing variables): op and
variable names under ``tf.name_scope``, ``tf.get_variable`` under ``tf.variable_scope``,
and a second tower that shares the first one's variables with ``reuse=True``.

Written for TensorFlow 1; only the import line differs.
"""

import numpy as np

import opcore.compat.v1 as tf

with tf.name_scope("hidden") as scope:
    a = tf.constant(5, name="alpha")
    W = tf.Variable(tf.random_uniform([1, 2], -1.0, 1.0), name="weights")
    b = tf.Variable(tf.zeros([1]), name="biases")
print(scope, a.name, W.op.name, b.op.name)


def conv_relu(input, kernel_shape, bias_shape):
    # Create variable named "weights".
    weights = tf.get_variable("weights", kernel_shape, initializer=tf.random_normal_initializer())
    # Create variable named "biases".
    biases = tf.get_variable("biases", bias_shape, initializer=tf.constant_initializer(0.0))
    conv = tf.nn.conv2d(input, weights, strides=[1, 1, 1, 1], padding="SAME")
    return tf.nn.relu(conv + biases)


def my_image_filter(input_images):
    with tf.variable_scope("conv1"):
        # Variables created here will be named "conv1/weights", "conv1/biases".
        relu1 = conv_relu(input_images, [5, 5, 3, 8], [8])
    with tf.variable_scope("conv2"):
        # Variables created here will be named "conv2/weights", "conv2/biases".
        return conv_relu(relu1, [5, 5, 8, 8], [8])


input1 = tf.placeholder(tf.float32, [None, 16, 16, 3], name="input1")
input2 = tf.placeholder(tf.float32, [None, 16, 16, 3], name="input2")

with tf.variable_scope("model"):
    output1 = my_image_filter(input1)
with tf.variable_scope("model", reuse=True):
    output2 = my_image_filter(input2)

print("variables:", [v.op.name for v in tf.global_variables()])
print("outputs:", output1.name, output2.name)

try:
    with tf.variable_scope("model"):
        my_image_filter(input1)
except ValueError as e:
    print("ValueError:", str(e).splitlines()[0])

with tf.variable_scope("foo", reuse=tf.AUTO_REUSE):
    v = tf.get_variable("v", [1])
with tf.variable_scope("foo", reuse=tf.AUTO_REUSE):
    v_again = tf.get_variable("v", [1])
print("AUTO_REUSE shares:", v is v_again, v.op.name)

images = np.random.RandomState(0).rand(2, 16, 16, 3).astype(np.float32)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    o1, o2 = sess.run([output1, output2], feed_dict={"input1:0": images, "input2:0": images})
    print("same weights, same outputs:", np.allclose(o1, o2), o1.shape)
